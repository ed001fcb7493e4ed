"""Built-in fixes, installed as ``autoglm_doctor.fixes``. Each returns a Plan; none touches the system."""

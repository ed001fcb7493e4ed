from autoglm_doctor.cli import main

raise SystemExit(main())

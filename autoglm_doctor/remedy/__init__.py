"""The one remediation engine: plan -> journal (before-states, written before anything is touched)
-> apply in order -> re-run the addressed checks -> on any failure revert every applied step in
reverse. Fixes never touch the system; only this package calls a Mutator."""

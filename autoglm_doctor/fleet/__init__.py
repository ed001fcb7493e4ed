"""Fleet views over many JSON reports: ``report merge`` (hosts x areas, one fleet gate) and
``report diff`` (what changed between runs of one host). Pure functions of the reports' JSON; no
check runs here, so a controller can merge what fifty hosts sent it."""

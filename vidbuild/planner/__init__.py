"""The planner: decide what a build must do for each row and why, index the rows a build
validated, and answer an unchanged rerun from the last complete build's snapshot."""

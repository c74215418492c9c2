"""corral: exact, faithful and fast structured-output generation."""

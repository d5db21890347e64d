"""The project as written, made concrete: load the YAML with source positions, validate it, read
the data rows, compile the templates and scenes, and expand every row into a hashed request body."""

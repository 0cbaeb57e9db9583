"""Tasks: loading them, their environments (Dockerfile and runner installs), promoting new features."""

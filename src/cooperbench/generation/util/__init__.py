"""Small helpers every part uses: atomic writes, progress lines, redaction, scratch-folder ownership."""

"""The ground floor: records and their places (layout, keys, records, code version, provenance)
and the sandbox contract with the backend registry. It imports nothing above the settings."""

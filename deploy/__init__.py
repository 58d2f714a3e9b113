"""Deploy-time scripts (`make deploy`); not shipped in the Lambda package (exclude_glob)."""

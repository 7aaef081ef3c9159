"""PHI redaction: free text (text.py), claims (deidentify.py), and the service.

The library half (rules, names, known values, text, pseudonyms, deidentify)
has no service dependencies, so every service's log processor can use it.
"""

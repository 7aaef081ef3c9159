"""Reference data versions on the compacted topics reference.payers and reference.tables.

``wire`` says how a version is written as records, ``kinds`` parses a
version's files with the loader of its CLI flag, ``follower`` reads the
topics in every service instance and swaps the versions in force, ``loader``
is ``claimscrub reference load | list | withdraw`` (docs/reference-data.md).
"""

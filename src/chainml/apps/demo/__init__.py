"""The ``chainml demo`` story as an application: small steps over the library, each returning data.

:mod:`.models` loads the data, trains and approves the candidate; :mod:`.screening` runs a compact
model inside the EVM's guarded token; :mod:`.service` scores a held-out stream through the real
scoring service on a loopback port; :mod:`.receipts` anchors the log, verifies receipts, shows
tampering fail and audits; :mod:`.report` writes the HTML report. The CLI (``chainml.cli.demo``)
parses flags, calls these steps in order and renders what they return.
"""

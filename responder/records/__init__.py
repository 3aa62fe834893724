"""The records every stage passes on: alerts, incidents and their lifecycle,
targets, action and approval records, audit entries. Plain typed values;
this package imports nothing else of the responder."""

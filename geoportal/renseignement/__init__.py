"""e-renseignement: requests for the official note, their review, and the signed, verifiable
notes the agency issues."""

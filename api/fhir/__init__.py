"""FHIR R5 interoperability (API.md, "Interoperability"): see docs/fhir.md."""

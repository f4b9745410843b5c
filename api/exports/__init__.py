"""Every view as CSV or XLSX (API.md, "Imports and exports"; docs/exports.md).

`tables`: a view model as columns and rows (no arithmetic: the view's own figures);
`writers`: rows to CSV or XLSX bytes as they come; `http`: the `format` parameter, `Accept`
negotiation and the streamed response the view routes answer with."""

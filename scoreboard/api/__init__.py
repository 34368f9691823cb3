"""The HTTP surface: routes, the one middleware, the envelope and errors, request
parsing, the OpenAPI document, and thin handlers."""

"""Long operations on one engine: `engine` (steps, one task), `reconciler`, and a step table per kind
(`instance_steps`; the app's `ready()` imports them so every process knows every kind)."""

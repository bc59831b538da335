// The admin UI (placeholder until the UI lands).

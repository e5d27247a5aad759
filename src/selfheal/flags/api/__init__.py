"""The flags context's HTTP edge: client, admin, frontend and OFREP APIs and the UI."""

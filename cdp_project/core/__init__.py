"""What every app may use and that uses no app: database helpers, the API error shape, the
client address, publishing a task, reading CSV, charts."""

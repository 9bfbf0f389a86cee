-- SQLite twin of postgresql/0001: jsonb is TEXT holding JSON, timestamptz is
-- TEXT in ISO 8601 with its UTC offset. As there, anomalies.run_id has no
-- foreign key.

CREATE TABLE scoring_runs (
    run_id        TEXT PRIMARY KEY,
    started_at    TEXT NOT NULL,
    finished_at   TEXT NOT NULL,
    status        TEXT NOT NULL,
    engine        TEXT NOT NULL,
    fit_on        TEXT NOT NULL,
    input_path    TEXT NOT NULL,
    model_sha256  TEXT,
    rows          INTEGER NOT NULL CHECK (rows >= 0),
    anomalies     INTEGER NOT NULL CHECK (anomalies >= 0),
    anomaly_rate  REAL NOT NULL,
    mlflow_run_id TEXT,
    parameters    TEXT NOT NULL
);

CREATE INDEX scoring_runs_finished_at_idx ON scoring_runs (finished_at DESC);

CREATE TABLE anomalies (
    run_id        TEXT NOT NULL,
    row_number    INTEGER NOT NULL,
    time          REAL,
    readings      TEXT NOT NULL,
    anomaly_score REAL NOT NULL,
    PRIMARY KEY (run_id, row_number)
);

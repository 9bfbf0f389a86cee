-- One row per scoring run, and one row per anomalous reading of a run.

CREATE TABLE scoring_runs (
    run_id        text PRIMARY KEY,
    started_at    timestamptz NOT NULL,
    finished_at   timestamptz NOT NULL,
    status        text NOT NULL,
    engine        text NOT NULL,
    fit_on        text NOT NULL,
    input_path    text NOT NULL,
    model_sha256  text,
    rows          bigint NOT NULL CHECK (rows >= 0),
    anomalies     bigint NOT NULL CHECK (anomalies >= 0),
    anomaly_rate  double precision NOT NULL,
    mlflow_run_id text,
    parameters    jsonb NOT NULL
);

CREATE INDEX scoring_runs_finished_at_idx ON scoring_runs (finished_at DESC);

-- The primary key's index, led by run_id, serves the look-ups by run. run_id
-- has no foreign key to scoring_runs on purpose: its per-row check more than
-- doubles the time COPY takes to load a large run. ScoringRunDataset writes and
-- deletes a run's rows in both tables in one transaction, so they stay in step.
CREATE TABLE anomalies (
    run_id        text NOT NULL,
    row_number    bigint NOT NULL,
    time          double precision,
    readings      jsonb NOT NULL,
    anomaly_score double precision NOT NULL,
    PRIMARY KEY (run_id, row_number)
);

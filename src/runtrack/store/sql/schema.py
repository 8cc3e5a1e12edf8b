"""The SQL schema (SQLAlchemy Core). Alembic migrations in ``migrations/`` create it;
a test checks that the migrated database and these definitions agree.

Layout, and why:

* ``runs`` holds run metadata and, denormalised, the JSON documents a run listing needs
  in one row read (config, tags, metric summaries, user summary, inputs): listing
  100,000 runs is one table scan.
* ``run_provenance`` holds the provenance sections (git with its diff, environment with
  the package list, command, seeds, hydra), one row per section: they can weigh
  kilobytes to megabytes per run, and only a run page reads them.
* ``run_params``, ``run_tags`` and ``metric_summaries`` are the same facts flattened to
  one typed row per key, indexed for the query language (``config.lr < 1e-3``,
  ``metrics.auc > 0.9 order by metrics.auc desc``). Both copies are written in the same
  transaction.
* ``metric_chunks`` keeps the metric series apart from the metadata, columnar and
  compressed: one row holds up to ``CHUNK_POINTS`` points of one key (see ``_codec``).
* ``metric_envelopes`` keeps, per full chunk, the points its charts need (written the
  first time a chart reads the chunk, see ``_downsample``), so that a server that just
  started does not have to decode every chunk again; ``metric_overviews`` the same at a
  coarser level (what the zoomed-out chart of a long series reads).
* ``run_streams`` is the idempotency ledger: the last applied ``seq`` of each stream.
* ``artifacts``, ``artifact_versions``, ``artifact_files`` (a manifest; reference files
  carry their URI and ETag), ``artifact_aliases``; ``run_outputs`` and ``run_uses`` are
  the lineage edges run -> version and version -> run. ``registered_models``,
  ``model_versions`` and ``model_aliases`` are the registry; ``artifact_alias_events``
  and ``model_alias_events`` its audit log, append-only (triggers refuse UPDATE and
  DELETE). ``next_idx`` / ``next_version`` keep numbers from being reused after a
  deletion. ``gc_rounds`` lets writers wait for a garbage collection in progress.
* ``users``, ``api_tokens`` and ``project_members`` belong to the team server's
  authentication (``runtrack.server.users``). A token is stored only as the SHA-256 of
  its text (plus its first 8 characters, to tell tokens apart in listings); a password
  only as an scrypt hash. Memberships name the project rather than reference it: a
  server administrator may grant roles in a project before its first run creates it.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

SCHEMA_REVISION = "0006"  # alembic head; checked against the migrations by a test

metadata = MetaData()

ID = String(32)
KEY = String(250)

projects = Table(
    "projects",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(100), nullable=False, unique=True),
    Column("created_at", Float, nullable=False),
)

runs = Table(
    "runs",
    metadata,
    Column("id", ID, primary_key=True),
    Column("project_id", Integer, ForeignKey("projects.id"), nullable=False),
    Column("name", String(250), nullable=False),
    Column("status", String(16), nullable=False),
    Column("user", String(250), nullable=False),
    Column("host", String(250), nullable=False),
    Column("start_time", Float, nullable=False),
    Column("end_time", Float),
    Column("heartbeat", Float),
    Column("parent_id", ID),
    Column("grp", String(250)),
    Column("notes", Text),
    Column("error", Text),
    Column("config", Text, nullable=False),  # JSON, nested, typed
    Column("tags", Text, nullable=False),  # JSON {key: value}
    Column("metrics", LargeBinary, nullable=False),  # packed summaries, see _records
    Column("summary", Text, nullable=False),  # JSON user summary overrides
    Column("inputs", Text, nullable=False),  # JSON list of DatasetInput
    Index("ix_runs_project_start", "project_id", "start_time"),
    Index("ix_runs_status_heartbeat", "status", "heartbeat"),
    Index("ix_runs_parent", "parent_id"),
)

run_params = Table(
    "run_params",
    metadata,
    Column("run_id", ID, ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column("key", KEY, primary_key=True),
    Column("vtype", String(1), nullable=False),  # n number, s string, b bool, z null, j json
    Column("num", Float),
    Column("str", Text),
    Index("ix_run_params_key_num", "key", "num"),
    Index("ix_run_params_key_str", "key", "str"),
)

run_tags = Table(
    "run_tags",
    metadata,
    Column("run_id", ID, ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column("key", KEY, primary_key=True),
    Column("value", Text, nullable=False),
    Index("ix_run_tags_key_value", "key", "value"),
)

metric_summaries = Table(
    "metric_summaries",
    metadata,
    Column("run_id", ID, ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column("key", KEY, primary_key=True),
    Column("project_id", Integer, nullable=False),
    # the summary value used by queries: the user's summary[key] if numeric, else last.
    # NaN is stored as NULL here (SQLite has no NaN); the exact value is in runs.metrics.
    Column("value", Float),
    Column("last", Float),
    Column("min", Float),
    Column("max", Float),
    Column("count", BigInteger, nullable=False),
    Column("last_step", BigInteger),
    # the trailing chunks that are not full, "seq:n,seq:n" (sizes strictly decreasing);
    # new points are merged into them LSM-style so that small writes do not leave small
    # chunks behind and each point is re-encoded O(log CHUNK_POINTS) times at most.
    Column("tail", Text, nullable=False),
    Column("next_seq", Integer, nullable=False),
    Index("ix_metric_summaries_sort", "project_id", "key", "value"),
)

metric_chunks = Table(
    "metric_chunks",
    metadata,
    Column("run_id", ID, ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column("key", KEY, primary_key=True),
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("n", Integer, nullable=False),
    Column("step_min", BigInteger, nullable=False),
    Column("step_max", BigInteger, nullable=False),
    Column("codec", Integer, nullable=False),
    Column("steps", LargeBinary, nullable=False),
    Column("times", LargeBinary, nullable=False),
    Column("vals", LargeBinary, nullable=False),
    # what a chart reads of a run's chunks before any blob: a covering index, so that
    # listing a series' chunks does not visit one table page (of a ~70 KB row) per chunk
    Index("ix_metric_chunks_span", "run_id", "key", "seq", "n", "step_min", "step_max"),
)

# the envelope of a full chunk (its points a chart of any zoom needs, see
# ``_downsample``), kept once a chart has read it: raw little-endian arrays of the kept
# points' positions in the chunk (int32), steps (int64), times and values (float64).
# Only full chunks have one, and they are never rewritten: the envelope goes with the run.
# (No foreign key to metric_chunks: it would make every LSM merge's delete of a tail
# chunk look this table up, ~4 % more CPU for the smallest writes.)
metric_envelopes = Table(
    "metric_envelopes",
    metadata,
    Column("run_id", ID, ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column("key", KEY, primary_key=True),
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("n", Integer, nullable=False),
    Column("positions", LargeBinary, nullable=False),
    Column("steps", LargeBinary, nullable=False),
    Column("times", LargeBinary),  # added by the first chart on a time axis
    Column("vals", LargeBinary, nullable=False),
)

# the overview of a full chunk: its envelope at 512 points per bucket (16 buckets, ~34
# points), what a zoomed-out chart of a long series reads (``_downsample``), in a table
# of its own so that its small rows lie densely. ``points``: a header (flags, count,
# first step, stride), the positions (uint16) and values (float64) of the kept points,
# and their steps (int64) only when they are not first + position * stride; ``times``
# (float64) added by the first chart on a time axis. Written beside the envelope, or
# derived from it by the first read of a chunk stored before this existed.
metric_overviews = Table(
    "metric_overviews",
    metadata,
    Column("run_id", ID, ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column("key", KEY, primary_key=True),
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("n", Integer, nullable=False),
    Column("points", LargeBinary, nullable=False),
    Column("times", LargeBinary),  # added by the first chart on a time axis
)

run_provenance = Table(
    "run_provenance",
    metadata,
    Column("run_id", ID, ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column("section", String(64), primary_key=True),
    Column("doc", Text, nullable=False),  # JSON
)

run_streams = Table(
    "run_streams",
    metadata,
    Column("run_id", ID, ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column("stream", String(64), primary_key=True),
    Column("position", BigInteger, nullable=False),
)

run_console = Table(
    "run_console",
    metadata,
    Column("run_id", ID, ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column("text", Text, nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("dropped", BigInteger, nullable=False),
)

run_inputs = Table(
    "run_inputs",
    metadata,
    Column("run_id", ID, ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column("digest", String(64), primary_key=True),
    Column("path", Text, nullable=False),
    Index("ix_run_inputs_digest", "digest"),
)

artifacts = Table(
    "artifacts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("project_id", Integer, ForeignKey("projects.id"), nullable=False),
    Column("name", String(250), nullable=False),
    Column("type", String(100), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("next_idx", Integer),  # version numbers are never reused, even after a deletion
    UniqueConstraint("project_id", "name", name="uq_artifacts_project_name"),
)

artifact_versions = Table(
    "artifact_versions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("artifact_id", Integer, ForeignKey("artifacts.id"), nullable=False),
    Column("idx", Integer, nullable=False),
    Column("digest", String(64), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("file_count", Integer, nullable=False),
    Column("metadata", Text, nullable=False),  # JSON
    Column("created_by", ID),
    Column("created_at", Float, nullable=False),
    UniqueConstraint("artifact_id", "idx", name="uq_artifact_versions_idx"),
    UniqueConstraint("artifact_id", "digest", name="uq_artifact_versions_digest"),
)

artifact_files = Table(
    "artifact_files",
    metadata,
    Column("version_id", Integer, ForeignKey("artifact_versions.id"), primary_key=True),
    Column("path", Text, primary_key=True),
    Column("digest", String(64), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("ref", Text),  # reference file: its URI (the content stays there, not copied)
    Column("etag", String(200)),  # reference file: the ETag/checksum its store reported
    Index("ix_artifact_files_digest", "digest"),
)

artifact_aliases = Table(
    "artifact_aliases",
    metadata,
    Column("artifact_id", Integer, ForeignKey("artifacts.id"), primary_key=True),
    Column("alias", String(100), primary_key=True),
    Column("version_id", Integer, ForeignKey("artifact_versions.id"), nullable=False),
)

run_outputs = Table(
    "run_outputs",
    metadata,
    Column("run_id", ID, ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column("version_id", Integer, ForeignKey("artifact_versions.id"), primary_key=True),
    Index("ix_run_outputs_version", "version_id"),
)

run_uses = Table(
    "run_uses",
    metadata,
    Column("run_id", ID, ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column("version_id", Integer, ForeignKey("artifact_versions.id"), primary_key=True),
    Column("used_at", Float, nullable=False),
    Index("ix_run_uses_version", "version_id"),
)

artifact_alias_events = Table(
    "artifact_alias_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("artifact_id", Integer, ForeignKey("artifacts.id"), nullable=False),
    Column("alias", String(100), nullable=False),
    Column("from_version", Integer),  # version index; NULL: the alias was not set
    Column("to_version", Integer),  # NULL: the alias was removed
    Column("actor", String(250), nullable=False),
    Column("reason", Text),
    Column("at", Float, nullable=False),
    Index("ix_artifact_alias_events", "artifact_id", "alias", "at"),
)

registered_models = Table(
    "registered_models",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(128), nullable=False, unique=True),
    Column("project_id", Integer, ForeignKey("projects.id"), nullable=False),  # owner
    Column("description", Text),
    Column("gates", Text, nullable=False),  # JSON list of promotion gates
    Column("next_version", Integer, nullable=False),  # never reused after a deletion
    Column("created_by", String(250), nullable=False),
    Column("created_at", Float, nullable=False),
)

model_versions = Table(
    "model_versions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("model_id", Integer, ForeignKey("registered_models.id"), nullable=False),
    Column("version", Integer, nullable=False),  # 1, 2, 3, ...
    Column("artifact_version_id", Integer, ForeignKey("artifact_versions.id"), nullable=False),
    Column("run_id", ID),  # the run that produced the artifact version
    Column("tags", Text, nullable=False),  # JSON {key: value}
    Column("description", Text),
    Column("created_by", String(250), nullable=False),
    Column("created_at", Float, nullable=False),
    UniqueConstraint("model_id", "version", name="uq_model_versions_version"),
    UniqueConstraint("model_id", "artifact_version_id", name="uq_model_versions_artifact"),
    Index("ix_model_versions_artifact", "artifact_version_id"),
    Index("ix_model_versions_run", "run_id"),
)

model_aliases = Table(
    "model_aliases",
    metadata,
    Column("model_id", Integer, ForeignKey("registered_models.id"), primary_key=True),
    Column("alias", String(100), primary_key=True),
    Column("version", Integer, nullable=False),
)

model_alias_events = Table(
    "model_alias_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("model_id", Integer, ForeignKey("registered_models.id"), nullable=False),
    Column("alias", String(100), nullable=False),
    Column("from_version", Integer),  # NULL: the alias was not set
    Column("to_version", Integer),  # NULL: the alias was removed
    Column("actor", String(250), nullable=False),
    Column("reason", Text),
    Column("at", Float, nullable=False),
    Index("ix_model_alias_events", "model_id", "alias", "at"),
)

gc_rounds = Table(
    "gc_rounds",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("started_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),  # a round whose gc died ends here
    Column("finished_at", Float),
)

# sweeps (migration 0004): a sweep's id is its own run's id; trials are child runs. The
# rows hold Optuna's view of each trial (internal parameter values, distributions,
# system attributes), so any process can rebuild the study; ``seq`` orders changes so a
# process holding the study in memory reads only what changed since (runtrack.sweeps).
sweeps = Table(
    "sweeps",
    metadata,
    Column("id", ID, ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column("project_id", Integer, ForeignKey("projects.id"), nullable=False),
    Column("spec", Text, nullable=False),  # JSON, normalised (runtrack.sweeps.spec)
    Column("status", String(16), nullable=False),  # running | finished | stopped
    Column("stop_reason", Text),
    Column("study_attrs", Text, nullable=False),  # JSON: Optuna study system attributes
    Column("seq", BigInteger, nullable=False),  # last change number
    Column("created_by", String(250), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("ended_at", Float),
    Index("ix_sweeps_project", "project_id", "created_at"),
)

sweep_trials = Table(
    "sweep_trials",
    metadata,
    Column("sweep_id", ID, ForeignKey("sweeps.id", ondelete="CASCADE"), primary_key=True),
    Column("number", Integer, primary_key=True),
    Column("run_id", ID),  # the trial's run (a warm-started trial: the run it came from)
    Column("state", String(16), nullable=False),  # waiting|running|complete|pruned|failed
    Column("warm", Boolean, nullable=False),
    Column("params", Text, nullable=False),  # JSON {name: Optuna internal value}
    Column("distributions", Text, nullable=False),  # JSON {name: Optuna distribution JSON}
    Column("vals", Text),  # JSON list of objective values
    Column("intermediate", Text, nullable=False),  # JSON [[step, value], ...]
    Column("system_attrs", Text, nullable=False),  # JSON
    Column("user_attrs", Text, nullable=False),  # JSON
    Column("sampler", String(32)),
    Column("error", Text),
    Column("retry_of", Integer),
    Column("retried", Boolean, nullable=False),  # a failed trial run again as a new one
    Column("started_at", Float),
    Column("ended_at", Float),
    Column("seq", BigInteger, nullable=False),
    Index("ix_sweep_trials_seq", "sweep_id", "seq"),
    Index("ix_sweep_trials_run", "run_id"),
)

# append-only tables: the migrations add triggers refusing UPDATE and DELETE on them
AUDIT_TABLES = ("artifact_alias_events", "model_alias_events")

users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("admin", Boolean, nullable=False),
    Column("password_hash", String(255)),  # NULL: no password sign-in
    Column("created_at", Float, nullable=False),
    Column("disabled", Boolean, nullable=False),
)

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("user_id", Integer, ForeignKey("users.id"), nullable=False),
    Column("label", String(100), nullable=False),
    Column("token_hash", String(64), nullable=False),  # hex SHA-256 of the token
    Column("prefix", String(8), nullable=False),  # "rt_" and 5 more characters
    Column("created_at", Float, nullable=False),
    Column("last_used_at", Float),  # written at most once a minute per token
    Column("expires_at", Float),
    Column("revoked_at", Float),
    UniqueConstraint("token_hash", name="uq_api_tokens_hash"),
    Index("ix_api_tokens_user", "user_id"),
)

project_members = Table(
    "project_members",
    metadata,
    Column("project", String(100), primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id"), primary_key=True),
    Column("role", String(16), nullable=False),  # viewer | editor | admin
    Column("granted_by", String(64)),  # a user's name; NULL: an operator on the server host
    Column("granted_at", Float, nullable=False),
    Index("ix_project_members_user", "user_id"),
)

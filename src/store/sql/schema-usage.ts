/** Table types of the usage tier's tables: usage log, counter snapshots (migration 002). */
import type { ColumnType, GeneratedAlways } from 'kysely';

/** PostgreSQL returns BIGINT as a string, SQLite as a number: readers convert with Number(). */
type BigIntColumn = ColumnType<number | string, number, number>;

/** The memory counter store's persisted counters. `expire_at` 0 never expires. */
export interface CounterSnapshotTable {
  key: string;
  value: BigIntColumn;
  expire_at: BigIntColumn;
}

/** The embedded usage log: one row per record, `seq` orders the log across its streams. */
export interface UsageLogTable {
  seq: GeneratedAlways<number | string>;
  stream: string;
  record_id: string;
  /** JSON text of the record's payload. */
  payload: string;
  /** Epoch ms of the append. */
  created_at: BigIntColumn;
}

/** A consumer group's cursor: every entry of `stream` with `seq <= last_seq` is acked by the group. */
export interface UsageLogGroupsTable {
  stream: string;
  group_name: string;
  last_seq: BigIntColumn;
}

export type UsageTables = {
  counter_snapshot: CounterSnapshotTable;
  usage_log: UsageLogTable;
  usage_log_groups: UsageLogGroupsTable;
};

import type Database from "better-sqlite3";
import { rowBuilder } from "../compiled-rows.js";

/** RowReader runs a prepared SELECT and returns its rows as objects keyed by column. */
export interface RowReader<Params extends unknown[], Row> {
  get(...params: Params): Row | undefined;
  all(...params: Params): Row[];
}

/**
 * prepareRowReader prepares `SELECT <columns> <from>` and builds each row's object itself,
 * from the row's values in column order (see rowBuilder). better-sqlite3 would build it
 * through V8's C++ API, a property at a time (~0.5 µs a column): a task's twenty columns then
 * cost more than the query.
 */
export function prepareRowReader<Row, Params extends unknown[] = unknown[]>(
  db: Database.Database,
  columns: readonly (keyof Row & string)[],
  from: string,
): RowReader<Params, Row> {
  const statement = db.prepare<Params, unknown[]>(`SELECT ${columns.join(", ")} ${from}`).raw(true);
  const rowOf = rowBuilder<Row>(columns);
  return {
    get(...params) {
      const values = statement.get(...params);
      return values === undefined ? undefined : rowOf(values);
    },
    all: (...params) => statement.all(...params).map(rowOf),
  };
}

// Profiling with DuckDB: type inference that keeps information, and per-column statistics.
import { DuckDBConnection, DuckDBInstance } from "@duckdb/node-api"
import { Data, Effect } from "effect"
import * as Fs from "node:fs"
import type { Limits } from "../Config.ts"
import { ColumnProfile, DatasetProfile, type DatasetFormat, type Dtype, ValueCount } from "../Domain/Dataset.ts"

/** Why a file could not be profiled; `detail` is safe to show the user. */
export class ProfileError extends Data.TaggedError("ProfileError")<{
  readonly reason: "malformed" | "empty" | "limit" | "unsupported"
  readonly detail: string
}> {}

const q = (name: string) => `"${name.replaceAll(`"`, `""`)}"`
const lit = (s: string) => `'${s.replaceAll("'", "''")}'`

const NUMBER = String.raw`[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?`
const INT = String.raw`[+-]?[0-9]+`
const LEADING_ZERO = String.raw`[+-]?0[0-9].*`
const DATE = String.raw`[0-9]{4}-[0-9]{2}-[0-9]{2}`
const TIMESTAMP = String.raw`[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,9})?)?([Zz]|[+-][0-9]{2}(:?[0-9]{2})?)?`

/**
 * Every CSV cell is read as text. One pass classifies each cell by its shape (a CASE evaluates
 * later branches only for the cells earlier ones did not match, so a column of numbers never
 * pays for the date and timestamp patterns) and ORs the kinds seen per column into a bit mask.
 */
const Kind = { int: 1, float: 2, date: 4, timestamp: 8, bool: 16, other: 32 } as const

const cellKind = (t: string) => `CASE
  WHEN ${t} IS NULL THEN 0
  WHEN regexp_full_match(${t}, '${NUMBER}') THEN
    CASE WHEN regexp_matches(${t}, '^${LEADING_ZERO}') THEN ${Kind.other}
         WHEN regexp_full_match(${t}, '${INT}') THEN ${Kind.int}
         ELSE ${Kind.float} END
  WHEN regexp_full_match(${t}, '${DATE}') THEN ${Kind.date}
  WHEN regexp_full_match(${t}, '${TIMESTAMP}') THEN ${Kind.timestamp}
  WHEN lower(${t}) IN ('true', 'false') THEN ${Kind.bool}
  ELSE ${Kind.other} END`

/** The dtype a column's shapes allow, before the values are checked to convert. */
const candidate = (mask: number): Dtype => {
  if (mask === 0 || mask & Kind.other) return "string"
  if (mask === Kind.bool) return "bool"
  if (mask === Kind.int) return "int"
  if ((mask & ~(Kind.int | Kind.float)) === 0) return "float"
  if (mask === Kind.date) return "date"
  if ((mask & ~(Kind.date | Kind.timestamp)) === 0) return "timestamp"
  return "string"
}

/** `2024-01-01T10:00Z` is ISO-8601 but DuckDB wants seconds: add them before casting. */
const withSeconds = (t: string) => `regexp_replace(${t}, '^([0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2})([Zz+-].*)?$', '\\1:00\\2')`

/** Counts the cells of a candidate column that do NOT convert; any such cell makes it a string. */
const failures = (t: string, dtype: Dtype) => {
  switch (dtype) {
    case "int": return `count(${t}) - count(TRY_CAST(${t} AS BIGINT))`
    // An integer beyond 64 bits would lose digits as a float.
    // An integer beyond 64 bits, or a number beyond a double's range (1e999), would lose information.
    case "float": return `count(*) FILTER (WHERE ${t} IS NOT NULL AND (TRY_CAST(${t} AS DOUBLE) IS NULL OR NOT isfinite(TRY_CAST(${t} AS DOUBLE)) OR (regexp_full_match(${t}, '${INT}') AND TRY_CAST(${t} AS BIGINT) IS NULL)))`
    case "date": return `count(${t}) - count(TRY_CAST(${t} AS DATE))`
    case "timestamp": return `count(${t}) - count(TRY_CAST(${withSeconds(t)} AS TIMESTAMPTZ))`
    default: return "0"
  }
}

/** The typed value of a CSV column, once its dtype is known. */
const csvTyped = (col: string, dtype: Dtype) => {
  const t = `NULLIF(trim(${q(col)}), '')`
  switch (dtype) {
    case "bool": return `(lower(${t}) = 'true')`
    case "int": return `CAST(${t} AS BIGINT)`
    case "float": return `CAST(${t} AS DOUBLE)`
    case "date": return `CAST(${t} AS DATE)`
    case "timestamp": return `CAST(${withSeconds(t)} AS TIMESTAMPTZ)`
    case "string": return `CASE WHEN ${t} IS NULL THEN NULL ELSE ${q(col)} END`
  }
}

const parquetDtype = (duckType: string): Dtype | undefined => {
  const t = duckType.toUpperCase()
  if (/^(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT|UTINYINT|USMALLINT|UINTEGER|UBIGINT|UHUGEINT)$/.test(t)) return "int"
  if (/^(FLOAT|DOUBLE|REAL)$/.test(t) || t.startsWith("DECIMAL")) return "float"
  if (t === "BOOLEAN") return "bool"
  if (t === "VARCHAR") return "string"
  if (t === "DATE") return "date"
  if (t.startsWith("TIMESTAMP")) return "timestamp"
  return undefined
}

const parquetTyped = (col: string, dtype: Dtype) => {
  switch (dtype) {
    case "int": return `CAST(${q(col)} AS BIGINT)`
    case "float": return `CAST(${q(col)} AS DOUBLE)`
    case "timestamp": return `CAST(${q(col)} AS TIMESTAMPTZ)`
    default: return q(col)
  }
}

/** Min/max rendered for JSON: integers as exact text (made numbers in JS when safe), floats over finite values. */
const bound = (dtype: Dtype, agg: "min" | "max", x: string) => {
  switch (dtype) {
    case "int": return `CAST(${agg}(${x}) AS VARCHAR)`
    case "float": return `${agg}(${x}) FILTER (WHERE isfinite(${x}))`
    case "date": return `strftime(${agg}(${x}), '%Y-%m-%d')`
    case "timestamp": return `strftime(${agg}(${x}), '%Y-%m-%dT%H:%M:%S.%gZ')`
    default: return "NULL"
  }
}

/** A value rendered for JSON: numbers as text first, so nothing is rounded or made null on the way. */
const rendered = (dtype: Dtype, v: string) => {
  switch (dtype) {
    case "int":
    case "float": return `CAST(${v} AS VARCHAR)`
    case "date": return `strftime(${v}, '%Y-%m-%d')`
    case "timestamp": return `strftime(${v}, '%Y-%m-%dT%H:%M:%S.%gZ')`
    default: return v
  }
}

/** An integer's exact text as a JSON number when it is one exactly, else as text; non-finite floats as text. */
export const jsonNumber = (text: string): number | string => {
  if (/^[+-]?\d+$/.test(text)) {
    const big = BigInt(text)
    return big <= BigInt(Number.MAX_SAFE_INTEGER) && big >= BigInt(Number.MIN_SAFE_INTEGER) ? Number(big) : text
  }
  const n = Number(text)
  if (Number.isFinite(n)) return n
  const t = text.trim().toLowerCase()
  return t === "nan" || t === "-nan" ? "NaN" : t.startsWith("-") ? "-Infinity" : "Infinity"
}

/** The delimiter of a CSV file: the candidate seen most often on its header line, outside quotes. */
export const detectDelimiter = (headerLine: string): string => {
  const counts = new Map<string, number>([[",", 0], [";", 0], ["\t", 0], ["|", 0]])
  let quoted = false
  for (const ch of headerLine) {
    if (ch === '"') quoted = !quoted
    else if (!quoted && counts.has(ch)) counts.set(ch, counts.get(ch)! + 1)
  }
  let best = ","
  for (const [d, n] of counts) if (n > counts.get(best)!) best = d
  return best
}

const firstLine = async (path: string) => {
  const handle = await Fs.promises.open(path, "r")
  try {
    const buffer = Buffer.alloc(65536)
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0)
    return buffer.subarray(0, bytesRead).toString("utf8").split(/\r?\n/)[0] ?? ""
  } finally {
    await handle.close()
  }
}

const toNumber = (v: unknown): number => (typeof v === "bigint" ? Number(v) : Number(v ?? 0))

const readAll = async (conn: DuckDBConnection, sql: string, params?: Array<string>) =>
  (await conn.runAndReadAll(sql, params)).getRowObjectsJS()

/** Aggregates over `raw`, a few dozen expressions per statement: one statement per 1,000 columns is far slower. */
const aggregate = async (conn: DuckDBConnection, exprs: ReadonlyArray<readonly [string, string]>, chunk = 48) => {
  const out: Record<string, unknown> = {}
  for (let i = 0; i < exprs.length; i += chunk) {
    const part = exprs.slice(i, i + chunk)
    const [row] = await readAll(conn, `SELECT ${part.map(([alias, e]) => `${e} AS ${alias}`).join(", ")} FROM raw`)
    Object.assign(out, row)
  }
  return out
}

/** A readable reason from a DuckDB error: no temp path, no SQL, no sniffer internals, a line number when known. */
const cleanMessage = (e: unknown, path: string) => {
  const text = String((e as Error)?.message ?? e).replaceAll(path, "<file>")
  const line = /Line: (\d+)/.exec(text)?.[1]
  const at = line ? ` (near line ${line})` : ""
  if (/sniffing|Expected Number of Columns|columns than expected|too many columns|Value with unterminated quote|unterminated quote/i.test(text)) {
    return `rows do not all have the header's fields, or a quote is not closed${at}`
  }
  if (/maximum line size/i.test(text)) return `a line is longer than DuckDB's 2,000,000-byte line limit${at}`
  if (/Invalid unicode|UTF-8/i.test(text)) return `the file is not valid UTF-8${at}`
  const first = text.split("\n").map((l) => l.trim()).find((l) => l.length > 0 && !/^LINE \d+:/.test(l) && !/^\^/.test(l)) ?? "unreadable"
  return (first.replace(/^[A-Za-z ]+Error: /, "") + at).slice(0, 300)
}

async function profileFile(
  instance: DuckDBInstance,
  path: string,
  format: DatasetFormat,
  limits: Limits,
  delimiter?: string
): Promise<DatasetProfile> {
  const conn = await instance.connect()
  try {
    await conn.run("SET TimeZone = 'UTC'")
    const columns: Array<{ name: string; dtype: Dtype }> = []
    if (format === "csv") {
      // The dialect is fixed from the header line: DuckDB's sniffer would otherwise skip rows it finds odd.
      const dialect = `delim = ${lit(delimiter ?? detectDelimiter(await firstLine(path)))}, quote = '"', escape = '"', skip = 0`
      const header = await readAll(conn, `SELECT * FROM read_csv($1, header = false, all_varchar = true, ${dialect}) LIMIT 1`, [path])
        .catch((e) => {
          throw new ProfileError({ reason: "malformed", detail: `CSV could not be read: ${cleanMessage(e, path)}` })
        })
      if (header.length === 0) throw new ProfileError({ reason: "empty", detail: "the file has no header row" })
      const names = Object.values(header[0]!).map((v) => (v === null ? "" : String(v).trim()))
      if (names.length > limits.maxDatasetColumns) {
        throw new ProfileError({ reason: "limit", detail: `the file has ${names.length} columns; MAX_DATASET_COLUMNS is ${limits.maxDatasetColumns}` })
      }
      const blank = names.flatMap((n, i) => (n === "" ? [i + 1] : []))
      if (blank.length > 0) throw new ProfileError({ reason: "malformed", detail: `header has an empty column name at position ${blank.join(", ")}` })
      const lower = names.map((n) => n.toLowerCase())
      const dupes = [...new Set(names.filter((_, i) => lower.indexOf(lower[i]!) !== i))]
      if (dupes.length > 0) {
        throw new ProfileError({ reason: "malformed", detail: `header repeats column name ${dupes.map((d) => JSON.stringify(d)).join(", ")} (names must differ by more than case)` })
      }
      await conn.run(
        `CREATE TEMP TABLE raw AS SELECT * FROM read_csv($1, header = true, all_varchar = true, strict_mode = true, ${dialect}, names = [${names.map(lit).join(", ")}])`,
        [path]
      ).catch((e) => {
        throw new ProfileError({ reason: "malformed", detail: `CSV could not be read: ${cleanMessage(e, path)}` })
      })
      const cell = (name: string) => `NULLIF(trim(${q(name)}), '')`
      const shapes = await aggregate(conn, names.map((name, i) => [`k${i}`, `bit_or(${cellKind(cell(name))})`] as const))
      const candidates = names.map((_, i) => candidate(toNumber(shapes![`k${i}`])))
      const toCheck = candidates.flatMap((dtype, i) => (dtype === "string" || dtype === "bool" ? [] : [i]))
      const failed = new Map<number, number>()
      if (toCheck.length > 0) {
        const f = await aggregate(conn, toCheck.map((i) => [`f${i}`, failures(cell(names[i]!), candidates[i]!)] as const))
        for (const i of toCheck) failed.set(i, toNumber(f![`f${i}`]))
      }
      names.forEach((name, i) => columns.push({ name, dtype: (failed.get(i) ?? 0) > 0 ? "string" : candidates[i]! }))
    } else {
      await conn.run("CREATE TEMP TABLE raw AS SELECT * FROM read_parquet($1)", [path]).catch((e) => {
        throw new ProfileError({ reason: "malformed", detail: `Parquet could not be read: ${cleanMessage(e, path)}` })
      })
      const described = await readAll(conn, "DESCRIBE raw")
      if (described.length > limits.maxDatasetColumns) {
        throw new ProfileError({ reason: "limit", detail: `the file has ${described.length} columns; MAX_DATASET_COLUMNS is ${limits.maxDatasetColumns}` })
      }
      for (const d of described) {
        const dtype = parquetDtype(String(d.column_type))
        if (dtype === undefined) {
          throw new ProfileError({ reason: "unsupported", detail: `column ${JSON.stringify(d.column_name)} has type ${d.column_type}, which is not tabular (int, float, bool, string, date, timestamp)` })
        }
        columns.push({ name: String(d.column_name), dtype })
      }
    }
    const typed = (c: { name: string; dtype: Dtype }) => (format === "csv" ? csvTyped(c.name, c.dtype) : parquetTyped(c.name, c.dtype))
    const stats = columns.flatMap((c) => {
      const x = typed(c)
      return [`count(${x})`, `approx_count_distinct(${x})`, bound(c.dtype, "min", x), bound(c.dtype, "max", x)]
    })
    const s = await aggregate(conn, [["n", "count(*)"] as const, ...stats.map((e, i) => [`s${i}`, e] as const)])
    const rows = toNumber(s.n)
    if (rows === 0) throw new ProfileError({ reason: "empty", detail: "the file has no data rows" })
    if (rows > limits.maxDatasetRows) {
      throw new ProfileError({ reason: "limit", detail: `the file has ${rows} rows; MAX_DATASET_ROWS is ${limits.maxDatasetRows}` })
    }
    const approx = columns.map((_, i) => toNumber(s[`s${i * 4 + 1}`]))
    const exactCols = columns.flatMap((_, i) => (approx[i]! <= limits.distinctExactCap ? [i] : []))
    const exact = new Map<number, number>()
    if (exactCols.length > 0) {
      const e = await aggregate(conn, exactCols.map((i) => [`d${i}`, `count(DISTINCT ${typed(columns[i]!)})`] as const))
      for (const i of exactCols) exact.set(i, toNumber(e[`d${i}`]))
    }
    const profiles: Array<ColumnProfile> = []
    for (const [i, c] of columns.entries()) {
      const distinct = exact.get(i) ?? approx[i]!
      let values: Array<ValueCount> | undefined
      if (exact.has(i) && distinct > 0 && distinct <= limits.categoryValuesCap) {
        const x = typed(c)
        const vs = await readAll(conn, `SELECT ${rendered(c.dtype, "v")} AS v, n FROM (SELECT ${x} AS v, count(*) AS n FROM raw WHERE ${x} IS NOT NULL GROUP BY 1 ORDER BY n DESC, v)`)
        values = vs.map((r) => new ValueCount({
          value: c.dtype === "int" || c.dtype === "float" ? jsonNumber(String(r.v)) : (r.v as string | boolean),
          count: toNumber(r.n)
        }))
      }
      const asBound = (v: unknown) => (v === null || v === undefined ? null : c.dtype === "int" ? jsonNumber(String(v)) : (v as number | string))
      const min = asBound(s[`s${i * 4 + 2}`])
      const max = asBound(s[`s${i * 4 + 3}`])
      profiles.push(new ColumnProfile({
        name: c.name,
        dtype: c.dtype,
        null_count: rows - toNumber(s[`s${i * 4}`]),
        distinct_count: distinct,
        distinct_exact: exact.has(i),
        min,
        max,
        ...(values ? { values } : {})
      }))
    }
    return new DatasetProfile({ rows, columns: profiles })
  } finally {
    conn.closeSync()
  }
}

/** The embedded analytical engine, one instance per process. */
export class Profiler extends Effect.Service<Profiler>()("Datasets/Profiler", {
  scoped: Effect.gen(function*() {
    const instance = yield* Effect.acquireRelease(
      Effect.promise(() => DuckDBInstance.create(":memory:", { threads: "2" })),
      (i) => Effect.sync(() => i.closeSync())
    )
    const profile = Effect.fn("Profiler.profile")(function*(path: string, format: DatasetFormat, limits: Limits, delimiter?: string) {
      return yield* Effect.tryPromise({
        try: () => profileFile(instance, path, format, limits, delimiter),
        catch: (e) => (e instanceof ProfileError ? e : new ProfileError({ reason: "malformed", detail: cleanMessage(e, path) }))
      })
    })
    return { profile } as const
  })
}) {}

// Real processes for the replica and fault tests: API replicas (src/main.ts), simulated workers
// (scripts/sim-worker.ts), the audit command, and a TCP proxy in front of PostgreSQL that can cut
// the database off for a while.
import * as ChildProcess from "node:child_process"
import * as Net from "node:net"
import * as NodePath from "node:path"
import * as Readline from "node:readline"

export const root = NodePath.join(import.meta.dirname, "..", "..")

export const freePort = () =>
  new Promise<number>((resolve) => {
    const server = Net.createServer().listen(0, "127.0.0.1", () => {
      const { port } = server.address() as Net.AddressInfo
      server.close(() => resolve(port))
    })
  })

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

export const exited = (child: ChildProcess.ChildProcess) =>
  child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise<void>((r) => child.once("exit", () => r()))

/** One API process. `kill9` is the fault; `restart` starts it again on the same port and settings. */
export class Service {
  child: ChildProcess.ChildProcess
  readonly base: string
  constructor(readonly port: number, readonly env: Record<string, string>) {
    this.base = `http://127.0.0.1:${port}`
    this.child = this.spawn()
  }
  private spawn() {
    return ChildProcess.spawn(process.execPath, ["--import", "tsx", "src/main.ts"], {
      cwd: root,
      env: { ...process.env, LOG_LEVEL: "Error", ...this.env, PORT: String(this.port) },
      stdio: ["ignore", "ignore", "inherit"]
    })
  }
  static async start(env: Record<string, string>) {
    const service = new Service(await freePort(), env)
    await service.ready()
    return service
  }
  async ready() {
    for (let i = 0; i < 240; i++) {
      if (this.child.exitCode !== null || this.child.signalCode !== null) {
        throw new Error(`service on ${this.base} exited (${this.child.exitCode ?? this.child.signalCode}) before it was ready`)
      }
      try {
        if ((await fetch(`${this.base}/readyz`, { signal: AbortSignal.timeout(2000) })).ok) return
      } catch {
        // not yet
      }
      await sleep(250)
    }
    throw new Error(`service on ${this.base} did not become ready`)
  }
  async kill9() {
    this.child.kill("SIGKILL")
    await exited(this.child)
  }
  async restart() {
    this.child = this.spawn()
    await this.ready()
  }
  async stop() {
    this.child.kill("SIGTERM")
    await exited(this.child)
  }
}

/** A simulated worker process; `holding` is the set of nodes it leased and has not reported yet. */
export class Worker {
  readonly child: ChildProcess.ChildProcess
  readonly holding = new Set<string>()
  readonly log: Array<string> = []
  constructor(urls: ReadonlyArray<string>, readonly id: string, options: Record<string, string | number> = {}) {
    const flags = Object.entries({ url: urls.join(","), id, ...options }).flatMap(([k, v]) => [`--${k}`, String(v)])
    this.child = ChildProcess.spawn(process.execPath, ["--import", "tsx", "scripts/sim-worker.ts", ...flags], {
      cwd: root,
      stdio: ["ignore", "pipe", "inherit"]
    })
    Readline.createInterface({ input: this.child.stdout! }).on("line", (line) => {
      this.log.push(line)
      const [what, node] = line.split(" ")
      if (what === "leased") this.holding.add(node!)
      else this.holding.delete(node!)
    })
  }
  async kill9() {
    this.child.kill("SIGKILL")
    await exited(this.child)
  }
}

/** Runs `trainer audit replay --json` against the given settings; its exit code and parsed output. */
export const auditReplay = (env: Record<string, string>) =>
  new Promise<{ code: number | null; result: any; stderr: string }>((resolve) => {
    const child = ChildProcess.spawn(process.execPath, ["--import", "tsx", "src/cli.ts", "audit", "replay", "--json"], {
      cwd: root,
      env: { ...process.env, LOG_LEVEL: "Error", ...env },
      stdio: ["ignore", "pipe", "pipe"]
    })
    let out = ""
    let err = ""
    child.stdout!.on("data", (d) => (out += d))
    child.stderr!.on("data", (d) => (err += d))
    child.on("exit", (code) => {
      let result: any = null
      try {
        result = JSON.parse(out)
      } catch {
        // left null: the assertion shows stdout/stderr
      }
      resolve({ code, result, stderr: err + out })
    })
  })

/** A TCP proxy to PostgreSQL. `cut()` drops every connection and refuses new ones until `restore()`. */
export const databaseProxy = async (target: { host: string; port: number }) => {
  const sockets = new Set<Net.Socket>()
  let down = false
  const server = Net.createServer((client) => {
    if (down) return client.destroy()
    const upstream = Net.connect(target.port, target.host)
    sockets.add(client).add(upstream)
    const close = () => {
      client.destroy()
      upstream.destroy()
      sockets.delete(client)
      sockets.delete(upstream)
    }
    client.on("error", close).on("close", close)
    upstream.on("error", close).on("close", close)
    client.pipe(upstream).pipe(client)
  })
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()))
  return {
    port: (server.address() as Net.AddressInfo).port,
    cut: () => {
      down = true
      for (const s of sockets) s.destroy()
      sockets.clear()
    },
    restore: () => {
      down = false
    },
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy()
        server.close(() => r())
      })
  }
}

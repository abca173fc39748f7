// Teacher URL safety (§8): http(s) only, no credentials in the URL, and no loopback, private,
// link-local or otherwise internal address unless the host is allowlisted. Pure, so a worker in
// any language can apply the same rules (and must, after resolving the name, against rebinding).
import * as Net from "node:net"

export type UrlVerdict = { readonly ok: true; readonly url: URL; readonly literal: boolean } | { readonly ok: false; readonly reason: string }

const v4Blocked: ReadonlyArray<readonly [string, number, string]> = [
  ["0.0.0.0", 8, "unspecified"],
  ["10.0.0.0", 8, "private"],
  ["100.64.0.0", 10, "shared (carrier-grade NAT)"],
  ["127.0.0.0", 8, "loopback"],
  ["169.254.0.0", 16, "link-local"],
  ["172.16.0.0", 12, "private"],
  ["192.0.0.0", 24, "IETF protocol assignments"],
  ["192.168.0.0", 16, "private"],
  ["198.18.0.0", 15, "benchmarking"],
  ["224.0.0.0", 4, "multicast"],
  ["240.0.0.0", 4, "reserved"]
]

const v4ToInt = (ip: string) => ip.split(".").reduce((acc, o) => (acc << 8) + Number(o), 0) >>> 0

const v4Class = (ip: string): string | undefined => {
  const n = v4ToInt(ip)
  for (const [base, bits, label] of v4Blocked) {
    const mask = bits === 0 ? 0 : (~0 << (32 - bits)) >>> 0
    if ((n & mask) === (v4ToInt(base) & mask)) return label
  }
  return undefined
}

/** The 8 hextets of an IPv6 address (with `::` expanded and a dotted IPv4 tail converted). */
const v6Hextets = (ip: string): Array<number> => {
  let text = ip
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text)
  if (dotted) {
    const n = v4ToInt(dotted[1]!)
    text = text.slice(0, -dotted[1]!.length) + `${(n >>> 16).toString(16)}:${(n & 0xffff).toString(16)}`
  }
  const [head, tail] = text.includes("::") ? text.split("::") : [text, undefined]
  const h = head ? head.split(":").filter((x) => x !== "") : []
  const t = tail !== undefined && tail !== "" ? tail.split(":") : []
  const zeros = tail !== undefined ? 8 - h.length - t.length : 0
  return [...h, ...Array(zeros).fill("0"), ...t].map((x) => parseInt(x, 16))
}

const v6Class = (ip: string): string | undefined => {
  const x = v6Hextets(ip.split("%")[0]!)
  const embeddedV4 = () => `${x[6]! >> 8}.${x[6]! & 255}.${x[7]! >> 8}.${x[7]! & 255}`
  if (x.every((h) => h === 0)) return "unspecified"
  if (x.slice(0, 7).every((h) => h === 0) && x[7] === 1) return "loopback"
  if (x.slice(0, 5).every((h) => h === 0) && x[5] === 0xffff) return v4Class(embeddedV4()) // IPv4-mapped
  if (x.slice(0, 6).every((h) => h === 0)) return v4Class(embeddedV4()) ?? "IPv4-compatible (deprecated)" // ::a.b.c.d
  if (x[0] === 0x2002) return v4Class(`${x[1]! >> 8}.${x[1]! & 255}.${x[2]! >> 8}.${x[2]! & 255}`) // 6to4
  if (x[0] === 0x2001 && x[1] === 0) return "Teredo tunnel" // embeds an obscured IPv4 address
  if (x[0] === 0x64 && x[1] === 0xff9b && x.slice(2, 6).every((h) => h === 0)) return v4Class(embeddedV4()) // NAT64
  if ((x[0]! & 0xfe00) === 0xfc00) return "unique local (private)"
  if ((x[0]! & 0xffc0) === 0xfe80) return "link-local"
  if ((x[0]! & 0xff00) === 0xff00) return "multicast"
  return undefined
}

/** Why an address may not be a teacher, or undefined when it may. */
export const blockedAddress = (ip: string): string | undefined => {
  const kind = Net.isIP(ip)
  return kind === 4 ? v4Class(ip) : kind === 6 ? v6Class(ip) : "not an IP address"
}

const isAllowlisted = (host: string, allowlist: ReadonlyArray<string>) => allowlist.includes(host.toLowerCase())

/** Checks a teacher URL as written: scheme, credentials, literal addresses, `localhost`. */
export const checkTeacherUrl = (raw: string, allowlist: ReadonlyArray<string>): UrlVerdict => {
  let url: URL
  try {
    url = new URL(raw)
  } catch {
    return { ok: false, reason: "is not a valid absolute URL" }
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") return { ok: false, reason: `must use http or https, not ${url.protocol.replace(":", "")}` }
  if (url.username !== "" || url.password !== "") return { ok: false, reason: "must not carry credentials; send them in teacher_headers" }
  // The URL parser already normalised 2130706433, 0x7f.1 and friends to dotted form.
  // A trailing dot names the same host (`localhost.`): compare without it.
  const host = url.hostname.replace(/^\[|\]$/g, "").toLowerCase().replace(/\.+$/, "")
  if (isAllowlisted(host, allowlist)) return { ok: true, url, literal: Net.isIP(host) !== 0 }
  if (host === "localhost" || host.endsWith(".localhost") || host === "localhost.localdomain") {
    return { ok: false, reason: `points at loopback (${host}); allow it with TEACHER_URL_ALLOWLIST` }
  }
  if (Net.isIP(host) !== 0) {
    const blocked = blockedAddress(host)
    if (blocked) return { ok: false, reason: `points at a ${blocked} address (${host}); allow it with TEACHER_URL_ALLOWLIST` }
    return { ok: true, url, literal: true }
  }
  return { ok: true, url, literal: false }
}

/** Header names and values that can be sent as given (no smuggling, no hop-by-hop headers). */
export const checkHeader = (name: string, value: string): string | undefined => {
  if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name)) return "is not a valid header name"
  if (["host", "content-length", "transfer-encoding", "connection", "upgrade", "te", "trailer", "keep-alive", "proxy-connection"].includes(name.toLowerCase())) {
    return "is set by the worker and cannot be overridden"
  }
  if (/[\r\n\0]/.test(value)) return "must not contain CR, LF or NUL"
  if (value.length > 8192) return "must be at most 8192 characters"
  return undefined
}

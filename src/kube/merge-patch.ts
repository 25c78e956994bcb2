// JSON merge patch (RFC 7386) from one document to another. A merge patch
// merges nested objects, so a key that disappears at any depth must be sent
// as null or the server keeps it (e.g. a VIP's status.compiled.announcement
// losing its localPreference). Arrays and scalars are replaced whole.

type Json = unknown;

function isObject(value: Json): value is Record<string, Json> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** The merge patch that turns `current` into `next` (undefined members of `next` count as absent). */
export function mergePatchFor(current: Json, next: Record<string, Json>): Record<string, Json> {
  const patch: Record<string, Json> = {};
  const before = isObject(current) ? current : {};
  for (const [k, v] of Object.entries(next)) {
    if (v === undefined) continue;
    patch[k] = isObject(v) && isObject(before[k]) ? mergePatchFor(before[k], v) : v;
  }
  for (const k of Object.keys(before)) if (next[k] === undefined) patch[k] = null;
  return patch;
}

/**
 * The skip and limit of a find, applied lazily: an iterator over what `select` makes of each item
 * of `source` (undefined: not selected), skipping the first `skip` selected and ending after
 * `limit` (0 or absent: no limit). Shared by the find paths that produce their documents as the
 * cursor is read (query.ts, id-listing.ts).
 */
export function skipLimitLazily<T, R>(source: Iterable<T>, select: (item: T) => R | undefined, spec: { skip?: number; limit?: number }): Iterator<R> {
  const it = source[Symbol.iterator]();
  let skip = spec.skip ?? 0;
  let left = spec.limit ? spec.limit : Infinity;
  return {
    next: () => {
      while (left > 0) {
        const n = it.next();
        if (n.done === true) break;
        const value = select(n.value);
        if (value === undefined) continue;
        if (skip > 0) {
          skip--;
          continue;
        }
        left--;
        return { done: false, value };
      }
      left = 0;
      return { done: true, value: undefined };
    },
  };
}

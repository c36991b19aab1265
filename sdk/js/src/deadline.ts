/** The wall clock as it last read, and how far it has been set back in all (for the fallback below). */
let lastWall = -Infinity;
let setBack = 0;

/**
 * Milliseconds on a clock that never goes back: `performance.now()` where there is one, else the
 * wall clock with every backward jump taken out (time stands still across it).
 */
export function monotonicNow(): number {
  const perf = (globalThis as { performance?: { now?: () => number } }).performance;
  if (typeof perf?.now === 'function') {
    return perf.now();
  }
  const wall = Date.now();
  if (wall < lastWall) {
    setBack += lastWall - wall;
  }
  lastWall = wall;
  return wall + setBack;
}

/**
 * A moment some milliseconds ahead, reached as soon as either clock says so: the wall clock, so that
 * time a device slept or a process stayed frozen counts as waited (a monotonic clock may stop
 * meanwhile), and a monotonic one, so that a wall clock set back (by the user, NTP) cannot make
 * the wait longer than it was set.
 */
export class Deadline {
  /** Already reached (no wait). */
  static readonly PAST = new Deadline(-Infinity, -Infinity);
  /** Never reached. */
  static readonly NEVER = new Deadline(Infinity, Infinity);

  private constructor(
    private readonly wall: number,
    private readonly mono: number,
  ) {}

  static in(ms: number): Deadline {
    return new Deadline(Date.now() + ms, monotonicNow() + ms);
  }

  /** Milliseconds until it is reached: zero or less once it is. */
  left(): number {
    return Math.min(this.wall - Date.now(), this.mono - monotonicNow());
  }

  get passed(): boolean {
    return this.left() <= 0;
  }

  /** This moment, `ms` earlier. */
  minus(ms: number): Deadline {
    return new Deadline(this.wall - ms, this.mono - ms);
  }
}

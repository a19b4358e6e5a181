/** Non-negative remainder (JS `%` keeps the sign of the dividend). */
export function mod(a: number, m: number): number {
  const r = a % m;
  return r < 0 ? r + m : r;
}

export function gcd(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b];
  return Math.abs(a);
}

/** Largest t' ≤ t with t' ≡ offset (mod step). */
export function alignDown(t: number, step: number, offset: number): number {
  return t - mod(t - offset, step);
}

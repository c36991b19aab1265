/** Gauss–Legendre nodes and weights shared by the engine's numerical integrals. */

const GAUSS_POINTS = 16;

let gaussLegendre: { readonly nodes: Float64Array; readonly weights: Float64Array } | null = null;

/** Gauss–Legendre nodes and weights on [-1, 1] (16 points), by Newton iteration on the Legendre polynomial. */
export function legendre(): { readonly nodes: Float64Array; readonly weights: Float64Array } {
  if (gaussLegendre !== null) {
    return gaussLegendre;
  }
  const n = GAUSS_POINTS;
  const nodes = new Float64Array(n);
  const weights = new Float64Array(n);
  for (let i = 0; i < (n + 1) / 2; i++) {
    let z = Math.cos((Math.PI * (i + 0.75)) / (n + 0.5));
    let derivative = 1;
    for (let iteration = 0; iteration < 100; iteration++) {
      let p1 = 1;
      let p2 = 0;
      for (let j = 1; j <= n; j++) {
        const p3 = p2;
        p2 = p1;
        p1 = ((2 * j - 1) * z * p2 - (j - 1) * p3) / j;
      }
      derivative = (n * (z * p1 - p2)) / (z * z - 1);
      const previous = z;
      z = previous - p1 / derivative;
      if (Math.abs(z - previous) < 1e-15) {
        break;
      }
    }
    nodes[i] = -z;
    nodes[n - 1 - i] = z;
    const w = 2 / ((1 - z * z) * derivative * derivative);
    weights[i] = w;
    weights[n - 1 - i] = w;
  }
  gaussLegendre = { nodes, weights };
  return gaussLegendre;
}

import { describe, expect, it } from 'vitest';
import { analyzeExperiment } from '../analyze.js';
import type { AnalysisOptions, MetricAnalysis, MetricAnalysisInput } from '../analyze.js';
import { chanceToBeBest, rawChanceToBeBest } from '../best-arm.js';
import type { EffectPosterior } from '../best-arm.js';
import { StatsErrorCode, isStatsError } from '../errors.js';
import type { SampleStats } from '../types.js';
import { normalCdf, normalCdfFast } from '../special.js';
import { seededRandom } from '../../random.js';

const DRAWS = 1_000_000;

function arm(n: number, mean: number, variance: number): SampleStats {
  return { n, sum: n * mean, sumSquares: (n - 1) * variance + n * mean * mean };
}

function analyze(arms: readonly SampleStats[], options: AnalysisOptions = {}, extra: Partial<MetricAnalysisInput> = {}): MetricAnalysis {
  const variations = arms.map((a, i) => ({ key: `v${i}`, weight: 1, units: a.n }));
  const metric = { key: 'm', type: 'mean', arms, ...extra } as MetricAnalysisInput;
  const analysis = analyzeExperiment({ variations, metrics: [metric], options: { chanceToBeBest: true, ...options } });
  return analysis.metrics[0]!;
}

function best(metric: MetricAnalysis): number[] {
  return metric.arms.map((a) => {
    expect(a.chanceToBeBest).not.toBeNull();
    return a.chanceToBeBest!;
  });
}

/** Standard normal draws by Box–Muller from a seeded uniform. */
function gaussian(seed: number): () => number {
  const random = seededRandom(seed);
  let spare: number | null = null;
  return () => {
    if (spare !== null) {
      const out = spare;
      spare = null;
      return out;
    }
    const u = 1 - random();
    const v = random();
    const r = Math.sqrt(-2 * Math.log(u));
    spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  };
}

/** Share of DRAWS in which each arm has the largest value of draw(). */
function monteCarlo(k: number, draw: (values: Float64Array) => void): number[] {
  const wins = new Array<number>(k).fill(0);
  const values = new Float64Array(k);
  for (let d = 0; d < DRAWS; d++) {
    draw(values);
    let top = 0;
    for (let i = 1; i < k; i++) {
      if (values[i]! > values[top]!) {
        top = i;
      }
    }
    wins[top]! += 1;
  }
  return wins.map((w) => w / DRAWS);
}

/** |p − reference| within 5 Monte Carlo standard errors (plus rounding). */
function expectWithinMonteCarlo(p: readonly number[], reference: readonly number[]): void {
  p.forEach((value, i) => {
    const ref = reference[i]!;
    const se = Math.sqrt(Math.max(ref * (1 - ref), 1 / DRAWS) / DRAWS);
    expect(Math.abs(value - ref), `arm ${i}: ${value} vs Monte Carlo ${ref}`).toBeLessThan(5 * se + 1e-12);
  });
}

function sum(values: readonly number[]): number {
  return values.reduce((a, b) => a + b, 0);
}

/**
 * Seeded random posteriors (2–8 treatments: spread out, similar arms as in a real experiment, and
 * extreme ones with loadings near −1 and sd ratios up to 300) with the raw integrals and normalised
 * results recorded from the previous implementation (per-arm inner grids, O(arms²) CDF calls per
 * node), before the shared-grid rewrite. `inverse` applies to the normalised values only.
 */
const RECORDED: readonly { effects: readonly EffectPosterior[]; inverse: boolean; raw: readonly number[]; best: readonly number[] }[] = [
  {
    effects: [
      { mean: 1.465, sd: 0.4561, controlLoading: 0.2864 },
      { mean: -0.2546, sd: 1.048, controlLoading: -0.9948 },
    ],
    inverse: false,
    raw: [0.000143679686284882, 0.914314692401782, 0.08554162791192838],
    best: [0.00014367968628488267, 0.9143146924017862, 0.08554162791192878],
  },
  {
    effects: [
      { mean: -2.666, sd: 1.57, controlLoading: -1 },
      { mean: 1.003, sd: 0.9748, controlLoading: -0.9785 },
      { mean: 1.877, sd: 2.095, controlLoading: -0.4834 },
    ],
    inverse: true,
    raw: [0.06484071444824951, 1.6185720440465908e-9, 0.268950479554164, 0.6662088043790099],
    best: [0.044040966901766336, 0.9478875442059851, 0, 0.008071488892248688],
  },
  {
    effects: [
      { mean: -0.01531, sd: 0.02095, controlLoading: -0.7187 },
      { mean: -0.01636, sd: 0.02117, controlLoading: -0.7133 },
      { mean: 0.02238, sd: 0.02089, controlLoading: -0.707 },
      { mean: 0.0118, sd: 0.02125, controlLoading: -0.7088 },
    ],
    inverse: false,
    raw: [0.08267024352429143, 0.010575480776534812, 0.009752617173329467, 0.6271635470530673, 0.2698381114727726],
    best: [0.0826702435242918, 0.010575480776534859, 0.00975261717332951, 0.6271635470530701, 0.2698381114727738],
  },
  {
    effects: [
      { mean: 0.006747, sd: 0.001063, controlLoading: -1 },
      { mean: 0.003217, sd: 0.001009, controlLoading: -0.9987 },
      { mean: 0.004295, sd: 0.0133, controlLoading: -0.9999 },
      { mean: 0.003542, sd: 0.01647, controlLoading: -0.9994 },
      { mean: -0.005667, sd: 0.001973, controlLoading: -0.9987 },
    ],
    inverse: false,
    raw: [1.0968383386985196e-10, 0.5745357070182656, 0, 0.03701927197507331, 0.38844502089697247, 0],
    best: [1.096838338698525e-10, 0.5745357070182684, 0, 0.037019271975073494, 0.38844502089697436, 0],
  },
  {
    effects: [
      { mean: -0.01996, sd: 0.2062, controlLoading: -0.817 },
      { mean: -2.09, sd: 1.235, controlLoading: 0.1606 },
      { mean: 1.165, sd: 1.983, controlLoading: -0.9474 },
      { mean: -2.831, sd: 1.587, controlLoading: -0.4573 },
      { mean: 2.876, sd: 1.079, controlLoading: -0.1892 },
      { mean: -2.841, sd: 1.676, controlLoading: -0.6408 },
    ],
    inverse: false,
    raw: [0.0016046616669732421, 0.00013009388787240425, 0.000957587878446072, 0.20499969871334248, 0.00019245657233130442, 0.7920359652244313, 0.0000795360565979623],
    best: [0.0016046616669732506, 0.00013009388787240493, 0.000957587878446077, 0.20499969871334356, 0.00019245657233130542, 0.7920359652244354, 0.00007953605659796272],
  },
  {
    effects: [
      { mean: 2.326, sd: 1.027, controlLoading: -0.1267 },
      { mean: -2.868, sd: 1.365, controlLoading: -1 },
      { mean: -1.007, sd: 0.5432, controlLoading: -0.1661 },
      { mean: 0.4673, sd: 2.04, controlLoading: -1 },
      { mean: -1.888, sd: 1.37, controlLoading: -0.01132 },
      { mean: 1.153, sd: 0.01397, controlLoading: -1 },
      { mean: 1.05, sd: 1.78, controlLoading: -0.1839 },
    ],
    inverse: false,
    raw: [0, 0.5856451837665096, 0, 0.0000012935884163616468, 0.14626875563213168, 0.0019322953719750249, 0.04988147824637993, 0.21627099339458333],
    best: [0, 0.585645183766512, 0, 0.0000012935884163616518, 0.14626875563213226, 0.0019322953719750327, 0.04988147824638013, 0.2162709933945842],
  },
  {
    effects: [
      { mean: -0.006736, sd: 0.02111, controlLoading: -0.7036 },
      { mean: -0.01468, sd: 0.02119, controlLoading: -0.7081 },
      { mean: 0.00706, sd: 0.02145, controlLoading: -0.7058 },
      { mean: -0.01762, sd: 0.02091, controlLoading: -0.7008 },
      { mean: 0.002017, sd: 0.02172, controlLoading: -0.7048 },
      { mean: 0.01535, sd: 0.02138, controlLoading: -0.7107 },
      { mean: -0.007934, sd: 0.02131, controlLoading: -0.7172 },
      { mean: 0.01687, sd: 0.02059, controlLoading: -0.7193 },
    ],
    inverse: true,
    raw: [0.06308066827339015, 0.026131748132143588, 0.007916923334539071, 0.14120134297981432, 0.004736381028325774, 0.08420021979223331, 0.3081527673968078, 0.021506509306967937, 0.343073439755775],
    best: [0.05503444712554757, 0.12080662771259282, 0.2653752737314494, 0.022983802708727834, 0.3434003522943201, 0.04672936030602249, 0.006256573798528451, 0.135835648714076, 0.003577913608735384],
  },
  {
    effects: [
      { mean: 0.002245, sd: 0.1834, controlLoading: -0.9925 },
      { mean: -0.003918, sd: 0.067, controlLoading: -1 },
    ],
    inverse: false,
    raw: [0.4865622095752886, 0.49999975730000384, 0.013438033124704181],
    best: [0.4865622095752902, 0.4999997573000055, 0.013438033124704226],
  },
  {
    effects: [
      { mean: 1.037, sd: 2.896, controlLoading: -1 },
      { mean: 1.434, sd: 2.462, controlLoading: -0.8618 },
      { mean: -0.1658, sd: 2.723, controlLoading: -0.3007 },
    ],
    inverse: false,
    raw: [0.15926581143518215, 0.27170809622000325, 0.35641409342542324, 0.21261199891938612],
    best: [0.15926581143518298, 0.2717080962200047, 0.3564140934254251, 0.21261199891938723],
  },
  {
    effects: [
      { mean: 0.7104, sd: 2.2, controlLoading: -1 },
      { mean: 1.908, sd: 2.981, controlLoading: -1 },
      { mean: -0.5281, sd: 0.09414, controlLoading: 0.08056 },
      { mean: 1.366, sd: 2.648, controlLoading: -1 },
    ],
    inverse: false,
    raw: [0.2610688484781196, 0, 0.7389311471387844, 4.383092128177328e-9, 0],
    best: [0.2610688484781206, 0, 0.7389311471387873, 4.383092128177346e-9, 0],
  },
  {
    effects: [
      { mean: -0.01684, sd: 0.02094, controlLoading: -0.7017 },
      { mean: -0.01125, sd: 0.0218, controlLoading: -0.7181 },
      { mean: -0.003177, sd: 0.02175, controlLoading: -0.7021 },
      { mean: -0.01878, sd: 0.02117, controlLoading: -0.719 },
      { mean: 0.02633, sd: 0.02095, controlLoading: -0.7013 },
    ],
    inverse: false,
    raw: [0.0838157563672733, 0.009805491475507907, 0.02354706119970894, 0.06462440346436335, 0.007053763072622419, 0.8111535244205194],
    best: [0.08381575636727369, 0.009805491475507952, 0.023547061199709052, 0.06462440346436366, 0.007053763072622452, 0.8111535244205231],
  },
  {
    effects: [
      { mean: -0.00546, sd: 0.2014, controlLoading: -1 },
      { mean: -0.0008785, sd: 0.2532, controlLoading: -1 },
      { mean: 0.002898, sd: 0.1201, controlLoading: -0.9997 },
      { mean: 0.007165, sd: 0.02401, controlLoading: -0.9999 },
      { mean: 0.004643, sd: 0.0324, controlLoading: -0.9995 },
      { mean: -0.006409, sd: 0.1269, controlLoading: -1 },
    ],
    inverse: true,
    raw: [0.3826923229884696, 0, 0.4836527106548653, 0.005580118370990128, 0.1277496916849693, 0.0003251563007019935, 0],
    best: [0.47985708701825086, 0.030154449589478247, 0.46476112228887106, 0.00002891922935729945, 0, 1.1645733190574578e-12, 0.025198421872877845],
  },
  {
    effects: [
      { mean: -2.98, sd: 2.429, controlLoading: -0.6691 },
      { mean: 1.805, sd: 0.4211, controlLoading: -0.1455 },
      { mean: 2.368, sd: 1.195, controlLoading: -0.4315 },
      { mean: 0.2233, sd: 2.346, controlLoading: -0.6774 },
      { mean: 2.806, sd: 2.141, controlLoading: -0.8794 },
      { mean: -0.3751, sd: 1.245, controlLoading: -0.8301 },
      { mean: 0.6671, sd: 2.652, controlLoading: -1 },
    ],
    inverse: false,
    raw: [1.9767974797830462e-7, 0.0005467424555012535, 0.14789303911950655, 0.2943296851832616, 0.045298398751738515, 0.4844023575585251, 0.00003467837083053253, 0.027494900880884163],
    best: [1.9767974797830547e-7, 0.0005467424555012559, 0.14789303911950719, 0.29432968518326286, 0.04529839875173871, 0.48440235755852723, 0.00003467837083053268, 0.02749490088088428],
  },
  {
    effects: [
      { mean: 0.2743, sd: 1.979, controlLoading: -0.8956 },
      { mean: 0.7371, sd: 0.983, controlLoading: -0.6872 },
      { mean: 1.406, sd: 2.759, controlLoading: -0.02152 },
      { mean: 2.515, sd: 2.816, controlLoading: -0.7659 },
      { mean: 1.37, sd: 1.793, controlLoading: -0.8069 },
      { mean: -0.0472, sd: 0.2845, controlLoading: -0.4465 },
      { mean: 1.074, sd: 1.129, controlLoading: -0.6844 },
      { mean: 2.85, sd: 0.6339, controlLoading: -1 },
    ],
    inverse: false,
    raw: [0.0000011735964505037948, 0.00482326088810664, 0.000547200270598831, 0.24275616059849767, 0.37059077666770757, 0.04348182345227312, 2.6239717262836072e-8, 0.005564772257730301, 0.3322348060289134],
    best: [0.0000011735964505038, 0.004823260888106661, 0.0005472002705988335, 0.24275616059849878, 0.37059077666770923, 0.04348182345227332, 2.623971726283619e-8, 0.005564772257730326, 0.3322348060289149],
  },
  {
    effects: [
      { mean: 0.003159, sd: 0.02004, controlLoading: -0.7023 },
      { mean: 0.02502, sd: 0.02017, controlLoading: -0.7012 },
    ],
    inverse: false,
    raw: [0.08373169060370084, 0.12012049715527359, 0.7961478122410209],
    best: [0.08373169060370123, 0.12012049715527415, 0.7961478122410246],
  },
  {
    effects: [
      { mean: 0.002032, sd: 0.004173, controlLoading: -0.9959 },
      { mean: 0.002814, sd: 0.1742, controlLoading: -0.9999 },
      { mean: -0.00538, sd: 0.1287, controlLoading: -1 },
    ],
    inverse: false,
    raw: [0.31315047740445506, 0.18501487376815132, 0.5018346265114336, 2.2315955386403717e-8],
    best: [0.3131504774044565, 0.18501487376815215, 0.501834626511436, 2.231595538640382e-8],
  },
  {
    effects: [
      { mean: 1.587, sd: 2.73, controlLoading: -1 },
      { mean: 2.283, sd: 0.6928, controlLoading: -0.7809 },
      { mean: 0.6069, sd: 0.7229, controlLoading: -1 },
      { mean: 2.351, sd: 2.922, controlLoading: -0.3721 },
    ],
    inverse: true,
    raw: [0.0002920349580667963, 0.2324830974746477, 0.3386830868846777, 5.485083951661686e-7, 0.4285412321742079],
    best: [0.6077859901129695, 0.23362243207472763, 1.477247494280084e-7, 0, 0.15859143008755341],
  },
  {
    effects: [
      { mean: 1.077, sd: 1.046, controlLoading: -0.9677 },
      { mean: -1.478, sd: 2.03, controlLoading: -0.9583 },
      { mean: -2.045, sd: 1.521, controlLoading: 0.1133 },
      { mean: -0.702, sd: 2.796, controlLoading: -0.7437 },
      { mean: 1.387, sd: 2.136, controlLoading: -0.03008 },
    ],
    inverse: false,
    raw: [0.03518514235319576, 0.2959508066372567, 0.004131052676764741, 0.01611473602681975, 0.14553943760864152, 0.5030788246973176],
    best: [0.0351851423531959, 0.29595080663725787, 0.004131052676764758, 0.016114736026819815, 0.1455394376086421, 0.5030788246973196],
  },
  {
    effects: [
      { mean: -0.009534, sd: 0.02198, controlLoading: -0.7029 },
      { mean: 0.001513, sd: 0.0218, controlLoading: -0.706 },
      { mean: -0.01655, sd: 0.02046, controlLoading: -0.7083 },
      { mean: 0.02698, sd: 0.02093, controlLoading: -0.7036 },
      { mean: 0.01638, sd: 0.02139, controlLoading: -0.7146 },
      { mean: 0.004997, sd: 0.02043, controlLoading: -0.7135 },
    ],
    inverse: false,
    raw: [0.040815172963131204, 0.013336341026286164, 0.053804388330820845, 0.0028422200660996703, 0.5787844855061247, 0.2419385631110208, 0.06847882899651207],
    best: [0.04081517296313139, 0.013336341026286225, 0.05380438833082109, 0.0028422200660996834, 0.5787844855061274, 0.2419385631110219, 0.06847882899651238],
  },
  {
    effects: [
      { mean: 0.006308, sd: 0.03768, controlLoading: -0.9998 },
      { mean: 0.006435, sd: 0.2061, controlLoading: -1 },
      { mean: -0.00406, sd: 0.001813, controlLoading: -0.9992 },
      { mean: 0.009506, sd: 0.2403, controlLoading: -1 },
      { mean: -0.002026, sd: 0.008882, controlLoading: -1 },
      { mean: -0.004431, sd: 0.1097, controlLoading: -1 },
      { mean: -0.003505, sd: 0.1804, controlLoading: -0.9922 },
    ],
    inverse: false,
    raw: [0.43196864132480906, 0.05035585768566442, 0, 0, 0.47967909013966875, 0, 0, 0.03799641084985398],
    best: [0.4319686413248107, 0.05035585768566461, 0, 0, 0.47967909013967064, 0, 0, 0.037996410849854126],
  },
  {
    effects: [
      { mean: 2.797, sd: 0.1421, controlLoading: -0.6952 },
      { mean: 0.9577, sd: 0.9041, controlLoading: -0.9073 },
      { mean: -0.7717, sd: 2.82, controlLoading: -0.00247 },
      { mean: -2.111, sd: 2.25, controlLoading: -0.1641 },
      { mean: 1.752, sd: 0.5675, controlLoading: -0.5775 },
      { mean: -2.328, sd: 1.385, controlLoading: -1 },
      { mean: 0.4686, sd: 0.09733, controlLoading: -1 },
      { mean: -2.882, sd: 0.4581, controlLoading: -0.2623 },
    ],
    inverse: false,
    raw: [2.475961770876691e-97, 0.8539173608461063, 0.010668296707867658, 0.10217824974824136, 0.013071525869828703, 0.02016421912781583, 3.4770013406337017e-7, 1.2303882937987402e-117, 6.549102930596191e-84],
    best: [2.4759617708767064e-97, 0.8539173608461116, 0.010668296707867723, 0.102178249748242, 0.013071525869828784, 0.020164219127815956, 3.4770013406337234e-7, 1.2303882937987477e-117, 6.549102930596232e-84],
  },
  {
    effects: [
      { mean: 0.1158, sd: 2.64, controlLoading: -0.7867 },
      { mean: -0.06743, sd: 1.265, controlLoading: -0.6027 },
    ],
    inverse: true,
    raw: [0.3298759844189088, 0.444887811528829, 0.2252362040522578],
    best: [0.3261141417687189, 0.3959789533883706, 0.2779069048429106],
  },
  {
    effects: [
      { mean: 0.008551, sd: 0.02046, controlLoading: -0.7085 },
      { mean: 0.002661, sd: 0.02162, controlLoading: -0.7175 },
      { mean: 0.02362, sd: 0.02079, controlLoading: -0.7086 },
    ],
    inverse: false,
    raw: [0.0732363362646578, 0.17678870485917833, 0.10290101233396604, 0.6470739465421936],
    best: [0.0732363362646581, 0.17678870485917908, 0.10290101233396647, 0.6470739465421964],
  },
  {
    effects: [
      { mean: -0.007992, sd: 0.08416, controlLoading: -0.9999 },
      { mean: 0.008842, sd: 0.01385, controlLoading: -1 },
      { mean: 0.0006451, sd: 0.19, controlLoading: -1 },
      { mean: -0.006932, sd: 0.001034, controlLoading: -0.9997 },
    ],
    inverse: false,
    raw: [0.26160290641475836, 0, 0.25695463089583764, 0.48144246268939966, 0],
    best: [0.26160290641475953, 0, 0.2569546308958388, 0.48144246268940183, 0],
  },
];

describe('chance to be best: two arms', () => {
  it('is exactly [1 − chanceToWin, chanceToWin] for both directions and difference types', () => {
    for (const inverse of [false, true]) {
      for (const difference of ['relative', 'absolute'] as const) {
        // prepare
        const arms = [arm(4000, 10, 25), arm(4100, 10.3, 24)];
        // act
        const metric = analyze(arms, { difference }, { inverse });
        // assert
        const chanceToWin = metric.comparisons[0]!.bayesian.chanceToWin;
        expect(metric.arms[1]!.chanceToBeBest).toBe(chanceToWin);
        expect(Math.abs(metric.arms[0]!.chanceToBeBest! - (1 - chanceToWin))).toBeLessThan(1e-15);
      }
    }
  });

  it('agrees with the integral when it is used for one treatment too', () => {
    // prepare
    const effects: EffectPosterior[] = [{ mean: 0.4, sd: 0.7, controlLoading: -0.6 }];
    // act
    const exact = chanceToBeBest(effects) as number[];
    const integral = rawChanceToBeBest(effects);
    // assert
    expect(Math.abs(integral[0]! - exact[0]!)).toBeLessThan(1e-12);
    expect(Math.abs(integral[1]! - exact[1]!)).toBeLessThan(1e-12);
  });
});

describe('chance to be best: symmetric arms', () => {
  it('gives 1/k to each of k identical arms (k = 3…6), absolute and relative', () => {
    for (const difference of ['absolute', 'relative'] as const) {
      for (let k = 3; k <= 6; k++) {
        // prepare
        const arms = Array.from({ length: k }, () => arm(5000, 10, 25));
        // act
        const p = best(analyze(arms, { difference }));
        // assert
        p.forEach((value) => {
          expect(Math.abs(value - 1 / k)).toBeLessThan(1e-9);
        });
      }
    }
  });

  it('gives 1/k before normalisation too (the quadrature itself is that accurate)', () => {
    // prepare: k − 1 treatments of equal arms under the absolute model, ρ = −1/√2
    for (let k = 3; k <= 6; k++) {
      const effects = Array.from({ length: k - 1 }, () => ({ mean: 0, sd: Math.SQRT2, controlLoading: -Math.SQRT1_2 }));
      // act
      const raw = rawChanceToBeBest(effects);
      // assert
      raw.forEach((value) => {
        expect(Math.abs(value - 1 / k)).toBeLessThan(1e-12);
      });
    }
  });
});

describe('chance to be best against a seeded Monte Carlo (10^6 draws)', () => {
  it('matches independent normal arm posteriors for an absolute metric, in both directions', () => {
    // prepare: with a flat prior and the difference, ranking effects = ranking arm means μ_i ~ N(x̄_i, s²_i/n_i)
    const specs = [
      { n: 3000, mean: 10, variance: 25 },
      { n: 2800, mean: 10.15, variance: 30 },
      { n: 3100, mean: 10.2, variance: 20 },
      { n: 900, mean: 10.1, variance: 26 },
    ];
    const arms = specs.map((s) => arm(s.n, s.mean, s.variance));
    for (const inverse of [false, true]) {
      const normal = gaussian(inverse ? 11 : 42);
      const sign = inverse ? -1 : 1;
      // act
      const p = best(analyze(arms, { difference: 'absolute' }, { inverse }));
      const reference = monteCarlo(specs.length, (values) => {
        specs.forEach((s, i) => {
          values[i] = sign * (s.mean + Math.sqrt(s.variance / s.n) * normal());
        });
      });
      // assert
      expect(Math.abs(sum(p) - 1)).toBeLessThan(1e-9);
      expectWithinMonteCarlo(p, reference);
    }
  });

  it('matches draws from the correlated effect posterior (relative lifts, a prior, strong and weak correlation)', () => {
    // prepare: the model of best-arm.ts, d_i = m_i + s_i(ρ_i Z₀ + √(1 − ρ_i²) Z_i), control 0
    const cases: EffectPosterior[][] = [
      [
        { mean: 0.02, sd: 0.015, controlLoading: -0.72 },
        { mean: 0.025, sd: 0.02, controlLoading: -0.55 },
        { mean: -0.01, sd: 0.01, controlLoading: -0.9 },
      ],
      [
        { mean: 0.001, sd: 0.01, controlLoading: -0.9995 },
        { mean: 0.0012, sd: 0.0101, controlLoading: -0.9996 },
      ],
      [
        { mean: 0.3, sd: 1, controlLoading: 0 },
        { mean: -0.2, sd: 0.05, controlLoading: -0.3 },
        { mean: 0.1, sd: 2, controlLoading: 0.4 },
        { mean: 0, sd: 0.5, controlLoading: -0.5 },
      ],
    ];
    cases.forEach((effects, c) => {
      const normal = gaussian(100 + c);
      // act
      const p = chanceToBeBest(effects) as number[];
      const reference = monteCarlo(effects.length + 1, (values) => {
        const z = normal();
        values[0] = 0;
        effects.forEach((e, i) => {
          values[i + 1] = e.mean + e.sd * (e.controlLoading * z + Math.sqrt(1 - e.controlLoading ** 2) * normal());
        });
      });
      // assert
      expect(Math.abs(sum(rawChanceToBeBest(effects)) - 1)).toBeLessThan(1e-9);
      expectWithinMonteCarlo(p, reference);
    });
  });
});

describe('chance to be best: properties', () => {
  it('sums to 1 within 1e-9 before normalisation, and stays in [0, 1], on seeded random posteriors', () => {
    // prepare
    const random = seededRandom(2024);
    for (let c = 0; c < 20; c++) {
      const m = 2 + Math.floor(random() * 4);
      const effects = Array.from({ length: m }, () => ({
        mean: (random() - 0.5) * 6,
        sd: 0.01 + random() * 3,
        controlLoading: random() < 0.2 ? -0.99999 : -random(),
      }));
      // act
      const raw = rawChanceToBeBest(effects);
      const p = chanceToBeBest(effects, random() < 0.5) as number[];
      // assert
      expect(Math.abs(sum(raw) - 1), `case ${c}`).toBeLessThan(1e-9);
      expect(Math.abs(sum(p) - 1)).toBeLessThan(1e-12);
      p.forEach((value) => {
        expect(value).toBeGreaterThanOrEqual(0);
        expect(value).toBeLessThanOrEqual(1);
      });
    }
  });

  it('respects the direction: lower is better reverses a clear ranking', () => {
    // prepare
    const arms = [arm(5000, 10, 25), arm(5000, 10.5, 25), arm(5000, 11, 25)];
    // act
    const higher = best(analyze(arms));
    const lower = best(analyze(arms, {}, { inverse: true }));
    // assert
    expect(higher[2]).toBeGreaterThan(0.99);
    expect(lower[0]).toBeGreaterThan(0.99);
  });

  it('is deterministic', () => {
    // prepare
    const arms = [arm(700, 3, 4), arm(650, 3.1, 4.5), arm(720, 3.05, 3.8)];
    // act
    const first = best(analyze(arms));
    const second = best(analyze(arms));
    // assert
    expect(second).toEqual(first);
  });

  it('is null for every arm, never NaN, when an arm has zero variance or no units', () => {
    for (const broken of [arm(500, 4, 0), { n: 0, sum: 0, sumSquares: 0 }]) {
      // prepare
      const arms = [arm(500, 4, 2), broken, arm(500, 4.1, 2)];
      // act
      const metric = analyze(arms);
      // assert
      expect(metric.comparisons[0]!.bayesian.error).toBeDefined();
      expect(metric.arms.map((a) => a.chanceToBeBest)).toEqual([null, null, null]);
    }
  });

  it('is null when not asked for (the default: the time series and breakdowns do not)', () => {
    const arms = [arm(500, 4, 2), arm(500, 4.1, 2), arm(500, 4.2, 2)];
    // act
    const off = analyze(arms, { chanceToBeBest: false });
    const byDefault = analyzeExperiment({ variations: arms.map((a, i) => ({ key: `v${i}`, weight: 1, units: a.n })), metrics: [{ key: 'm', type: 'mean', arms }] }).metrics[0]!;
    // assert
    expect(off.arms.map((a) => a.chanceToBeBest)).toEqual([null, null, null]);
    expect(byDefault.arms.map((a) => a.chanceToBeBest)).toEqual([null, null, null]);
  });

  it('gives the control alone 1 and refuses posteriors that are not proper', () => {
    // act
    const single = chanceToBeBest([]);
    const flat = chanceToBeBest([{ mean: 0, sd: 0, controlLoading: 0 }, { mean: 0, sd: 1, controlLoading: 0 }]);
    const infinite = chanceToBeBest([{ mean: Number.NaN, sd: 1, controlLoading: 0 }, { mean: 0, sd: 1, controlLoading: 0 }]);
    // assert
    expect(single).toEqual([1]);
    expect(isStatsError(flat) && flat.code).toBe(StatsErrorCode.INVALID_INPUT);
    expect(isStatsError(infinite) && infinite.code).toBe(StatsErrorCode.INVALID_INPUT);
  });
});

describe('chance to be best: regression against the previous implementation', () => {
  it('reproduces the recorded values within 1e-9 (raw and normalised) on 24 seeded random cases', () => {
    RECORDED.forEach((c, k) => {
      // act
      const raw = rawChanceToBeBest(c.effects);
      const p = chanceToBeBest(c.effects, c.inverse) as number[];
      // assert
      expect(raw).toHaveLength(c.raw.length);
      raw.forEach((value, i) => {
        expect(Math.abs(value - c.raw[i]!), `case ${k} raw arm ${i}`).toBeLessThan(1e-9);
      });
      p.forEach((value, i) => {
        expect(Math.abs(value - c.best[i]!), `case ${k} arm ${i}`).toBeLessThan(1e-9);
      });
      expect(Math.abs(sum(raw) - 1), `case ${k}`).toBeLessThan(1e-9);
    });
  });

  it('gives 1/k before normalisation for k up to 9 identical arms', () => {
    for (let k = 7; k <= 9; k++) {
      // prepare
      const effects = Array.from({ length: k - 1 }, () => ({ mean: 0, sd: Math.SQRT2, controlLoading: -Math.SQRT1_2 }));
      // act
      const raw = rawChanceToBeBest(effects);
      // assert
      raw.forEach((value) => {
        expect(Math.abs(value - 1 / k)).toBeLessThan(1e-12);
      });
    }
  });
});

describe('normalCdfFast (the inner CDF of chance to be best)', () => {
  it('agrees with normalCdf within 1e-15 absolute and 1e-12 relative in the lower tail', () => {
    // prepare
    let worstAbsolute = 0;
    let worstRelative = 0;
    for (let k = 0; k <= 200_000; k++) {
      const z = -37 + (45.3 * k) / 200_000;
      // act
      const difference = Math.abs(normalCdfFast(z) - normalCdf(z));
      worstAbsolute = Math.max(worstAbsolute, difference);
      worstRelative = Math.max(worstRelative, difference / normalCdf(z));
    }
    // assert
    expect(worstAbsolute).toBeLessThan(1e-15);
    expect(worstRelative).toBeLessThan(1e-12);
  });
});

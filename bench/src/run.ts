/** Runs every benchmark suite in sequence and prints its comparison table. */
console.log('xp benchmarks');

// Fault scenarios, part a of 2 (seeds 1, 3, 5, ...; see fault-suite.ts): five
// nodes under a recorded workload through a seeded fault phase — loss, delay, duplication and
// reordering of messages, symmetric and one-way partitions, crashes that lose unsynced writes, a
// wiped disk, clock skew and steps, pauses — then a heal phase with a convergence deadline, and
// the checks of guarantees.md I2, I3, I5, I6, I7 and I9 (src/sim/fault-scenario.ts).

import { registerFaultSeeds } from './fault-suite.js';

registerFaultSeeds('dist/test/sim/faults-a.test.js', 0, 2);

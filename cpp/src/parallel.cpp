// Thread count: the cores this process may run on (cgroup/affinity aware on Linux).
#include "bayesflight/parallel.hpp"

#if defined(__linux__)
#include <sched.h>
#endif

namespace bayesflight {

int resolve_threads(int requested) {
  if (requested > 0) return requested;
#if defined(__linux__)
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    const int count = CPU_COUNT(&set);
    if (count > 0) return count;
  }
#endif
  const unsigned hardware = std::thread::hardware_concurrency();
  return hardware > 0 ? static_cast<int>(hardware) : 1;
}

}  // namespace bayesflight

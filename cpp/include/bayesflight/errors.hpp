// Exceptions of the core: invalid arguments are std::invalid_argument (the binding maps
// them to ValueError); an impossible deterministic observation has its own type.
#pragma once

#include <cstddef>
#include <stdexcept>
#include <string>

namespace bayesflight {

// A deterministic update would leave no hypothesis with positive probability. The belief is
// left as it was. In the batched protocol, `user` and `round` say where it happened.
class ImpossibleObservation : public std::runtime_error {
 public:
  static constexpr std::size_t kNoIndex = static_cast<std::size_t>(-1);

  explicit ImpossibleObservation(const std::string& what, std::size_t user = kNoIndex,
                                 std::size_t round = kNoIndex)
      : std::runtime_error(what), user_(user), round_(round) {}

  std::size_t user() const { return user_; }
  std::size_t round() const { return round_; }

 private:
  std::size_t user_;
  std::size_t round_;
};

}  // namespace bayesflight

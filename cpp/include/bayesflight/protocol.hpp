// The paper's evaluation protocol for the Bayesian assistant, for many users at once.
#pragma once

#include <cstddef>
#include <cstdint>

#include "bayesflight/choice.hpp"
#include "bayesflight/grid.hpp"

namespace bayesflight {

// U users, R rounds of K options, N held-out sets of K2 options, F = grid.n_features().
// Arrays are C-contiguous.
struct ProtocolInput {
  std::size_t n_users = 0;
  std::size_t n_rounds = 0;
  int n_options = 0;
  std::size_t n_heldout = 0;
  int n_heldout_options = 0;                // K2; ignored when n_heldout is 0
  const double* user_weights = nullptr;     // U x F
  const double* rounds = nullptr;           // U x R x K x F
  const double* heldout = nullptr;          // N x K2 x F
  const std::int64_t* choices = nullptr;    // U x R, or null: each user's deterministic best
};

// Caller-allocated results.
struct ProtocolOutput {
  std::int64_t* choices = nullptr;                  // U x R: the revealed choices
  double* round_predictive = nullptr;               // U x R x K: before each choice is revealed
  std::int64_t* round_recommendations = nullptr;    // U x R
  std::int64_t* heldout_recommendations = nullptr;  // U x (R + 1) x N
  double* heldout_accuracy = nullptr;               // U x (R + 1); NaN when N is 0
  double* heldout_predictive = nullptr;             // U x (R + 1) x N x K2, or null: not wanted
};

// Runs every user from a uniform prior: before any round and after each round the assistant
// recommends on the held-out sets; each round it predicts, recommends, sees the user's choice
// and updates. Users run in parallel on n_threads threads (0: all cores). Throws
// ImpossibleObservation for the lowest user whose choices leave no hypothesis under the
// deterministic model (its user() and round() say where), std::invalid_argument for bad sizes or
// choices.
void run_protocol(const Grid& grid, const ChoiceModel& model, const ProtocolInput& in,
                  const ProtocolOutput& out, int n_threads);

}  // namespace bayesflight

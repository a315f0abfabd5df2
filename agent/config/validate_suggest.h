#pragma once
// "did you mean ...?" for misspelled keys, commands and group names.
#include <cstddef>
#include <optional>
#include <span>
#include <string_view>

namespace agent {

// Levenshtein distance with adjacent transpositions counted as one edit (optimal string
// alignment), so "mount_piont" is one edit from "mount_point".
[[nodiscard]] std::size_t edit_distance(std::string_view a, std::string_view b);

// The candidate closest to word, if it is close enough to be a plausible typo: at most 2 edits,
// and fewer edits than a third of the longer word plus one. Ties go to the earlier candidate.
[[nodiscard]] std::optional<std::string_view> closest_match(std::string_view word,
                                                            std::span<const std::string_view> candidates);

}  // namespace agent

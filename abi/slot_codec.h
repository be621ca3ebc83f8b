// Message slots are 64-bit words: how a C value of any parameter type (term,
// env, integer, enum, double, pointer) goes into one and comes back out.
// Used by both sides, so they agree by construction.
#pragma once

#include <bit>
#include <cstdint>
#include <type_traits>

namespace nifshim::abi {

template <typename T>
std::uint64_t encode(T v) {
  if constexpr (std::is_pointer_v<T>) return reinterpret_cast<std::uint64_t>(v);
  else if constexpr (std::is_floating_point_v<T>) return std::bit_cast<std::uint64_t>(double(v));
  else if constexpr (std::is_enum_v<T>) return static_cast<std::uint64_t>(static_cast<std::underlying_type_t<T>>(v));
  else return static_cast<std::uint64_t>(v);
}

template <typename T>
T decode(std::uint64_t v) {
  if constexpr (std::is_pointer_v<T>) return reinterpret_cast<T>(v);
  else if constexpr (std::is_floating_point_v<T>) return T(std::bit_cast<double>(v));
  else if constexpr (std::is_enum_v<T>) return static_cast<T>(static_cast<std::underlying_type_t<T>>(v));
  else return static_cast<T>(v);
}

}  // namespace nifshim::abi

#pragma once

#include <cstddef>
#include <vector>

namespace memopt::model {

/// A fixed-capacity FIFO: pushing onto a full buffer drops the oldest element. Its storage is
/// allocated and written once, at construction, so a history's resident memory is the same
/// in its first minute as after hours (the monitor's RSS must not creep while it fills).
template <typename T>
class RingBuffer {
 public:
  explicit RingBuffer(std::size_t capacity) : items_(capacity == 0 ? 1 : capacity) {}

  void push(T item) {
    items_[(head_ + size_) % items_.size()] = std::move(item);
    if (size_ < items_.size()) {
      ++size_;
    } else {
      head_ = (head_ + 1) % items_.size();
    }
  }

  [[nodiscard]] std::size_t size() const { return size_; }
  [[nodiscard]] std::size_t capacity() const { return items_.size(); }
  [[nodiscard]] bool empty() const { return size_ == 0; }

  /// The i-th oldest element (0 = oldest).
  [[nodiscard]] const T& operator[](std::size_t i) const {
    return items_[(head_ + i) % items_.size()];
  }
  [[nodiscard]] const T& back() const { return (*this)[size_ - 1]; }

  /// The elements, oldest first (a copy).
  [[nodiscard]] std::vector<T> to_vector() const {
    std::vector<T> out;
    out.reserve(size_);
    for (std::size_t i = 0; i < size_; ++i) out.push_back((*this)[i]);
    return out;
  }

 private:
  std::vector<T> items_;  ///< all `capacity` slots, value-initialized up front
  std::size_t head_ = 0;  ///< index of the oldest element
  std::size_t size_ = 0;
};

}  // namespace memopt::model

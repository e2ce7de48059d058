#pragma once

#include <cstddef>
#include <vector>

namespace memopt::model {

/// A fixed-capacity FIFO: pushing onto a full buffer drops the oldest element. Its memory is
/// allocated once, so history never grows with run time.
template <typename T>
class RingBuffer {
 public:
  explicit RingBuffer(std::size_t capacity) : capacity_(capacity == 0 ? 1 : capacity) {
    items_.reserve(capacity_);
  }

  void push(T item) {
    if (items_.size() < capacity_) {
      items_.push_back(std::move(item));
    } else {
      items_[head_] = std::move(item);
      head_ = (head_ + 1) % capacity_;
    }
  }

  [[nodiscard]] std::size_t size() const { return items_.size(); }
  [[nodiscard]] std::size_t capacity() const { return capacity_; }
  [[nodiscard]] bool empty() const { return items_.empty(); }

  /// The i-th oldest element (0 = oldest).
  [[nodiscard]] const T& operator[](std::size_t i) const {
    return items_[(head_ + i) % items_.size()];
  }
  [[nodiscard]] const T& back() const { return (*this)[items_.size() - 1]; }

  /// The elements, oldest first (a copy).
  [[nodiscard]] std::vector<T> to_vector() const {
    std::vector<T> out;
    out.reserve(items_.size());
    for (std::size_t i = 0; i < items_.size(); ++i) out.push_back((*this)[i]);
    return out;
  }

 private:
  std::size_t capacity_;
  std::size_t head_ = 0;  ///< index of the oldest element once full
  std::vector<T> items_;
};

}  // namespace memopt::model

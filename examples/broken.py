def mean(values):
    total = 0
    for value in values
        total += value
    return total / len(values


def variance(values):
    m = mean(values)
    return sum((v - m) ** 2 for v in values) / len(values)

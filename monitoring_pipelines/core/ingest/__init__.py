"""Reading a day: warehouse reads, row cleaning, the slice store, live-slice checks, labels."""

"""What one experiment is: the stack file and config model, its checks, its size and its
price, and the outputs the program exports."""

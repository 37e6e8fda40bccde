# evaluate.py's recall of a fact of your own: question only, the memory in the context, and the method, over 100
# seeds; then with the answer replaced in the memory by other words. Edit start, memory and answer for your facts.
mode = "recall"
start = "\nThe spare key to the allotment shed is hidden under the"
memory = "FILE:data/my_facts.txt"
one_text_per_line = True  # one fact a line
answer = "blue"
num_seeds = 100
max_new_tokens = 20
conditions = ["question", "in_context", "method"]
substitutes = ["red", "green", "yellow"]  # hits count the substitute, original_hits the original answer

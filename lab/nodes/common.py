"""What the lab's nodes share: their id prefix and menu category, and the pack's own input checks
(the lab's nodes check their inputs as the editing nodes do, with the same messages)."""
from ..product import module

PREFIX = "SDEEditLab"  # every lab node id starts with it
CATEGORY = "sde_edit_lab"

InputError = module("adapter.checks").InputError
check_choice = module("adapter.checks").check_choice
check_numbers = module("nodes.common").check_numbers
choices_valid = module("nodes.common").choices_valid

"""What a referral is and what is decided about it: records, rules, checks, the decision. No
I/O beyond reading rules files.
"""

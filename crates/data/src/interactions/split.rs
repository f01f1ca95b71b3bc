//! SASRec's leave-one-out split (`util.py`'s `data_partition`): each user's last item is held out
//! for testing and the one before it for validation, in time order.

use crate::interactions::InteractionLog;

/// SASRec's time-ordered leave-one-out: users with at least 3 interactions give their last item
/// to test, the second-to-last to validation, the rest to training; users with fewer keep
/// everything in training and have no validation or test item. Indexed by user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaveOneOut {
    pub train: Vec<Vec<u32>>,
    pub validation: Vec<Option<u32>>,
    pub test: Vec<Option<u32>>,
}

impl LeaveOneOut {
    pub fn new(log: &InteractionLog) -> Self {
        let users = log.num_users();
        let mut split = Self {
            train: Vec::with_capacity(users),
            validation: Vec::with_capacity(users),
            test: Vec::with_capacity(users),
        };
        for history in log.histories() {
            match history.as_slice() {
                [train @ .., validation, test] if history.len() >= 3 => {
                    split.train.push(train.to_vec());
                    split.validation.push(Some(*validation));
                    split.test.push(Some(*test));
                }
                // Fewer than 3: holding two out would leave too little (or nothing) to learn
                // from, so SASRec trains on all of it and never evaluates the user.
                _ => {
                    split.train.push(history.clone());
                    split.validation.push(None);
                    split.test.push(None);
                }
            }
        }
        split
    }

    pub fn num_users(&self) -> usize {
        self.train.len()
    }

    /// The items `user` has seen before its test item: training then the validation item (for
    /// a user without held-out items, its whole history). Panics if `user >= num_users()`.
    pub fn test_input(&self, user: usize) -> Vec<u32> {
        let mut input = self.train[user].clone();
        input.extend(self.validation[user]);
        input
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_of_1_2_3_and_5_interactions() {
        let names = |n: usize, prefix: &str| (0..n).map(|i| format!("{prefix}{i}")).collect();
        let histories = vec![vec![1], vec![2, 1], vec![3, 1, 2], vec![5, 4, 3, 2, 1]];
        let log = InteractionLog::from_parts(names(4, "u"), names(5, "i"), histories).unwrap();
        let split = LeaveOneOut::new(&log);
        assert_eq!(split.num_users(), 4);
        assert_eq!(split.train, [vec![1], vec![2, 1], vec![3], vec![5, 4, 3]]);
        assert_eq!(split.validation, [None, None, Some(1), Some(2)]);
        assert_eq!(split.test, [None, None, Some(2), Some(1)]);
        assert_eq!(split.test_input(0), [1]);
        assert_eq!(split.test_input(1), [2, 1]);
        assert_eq!(split.test_input(2), [3, 1]);
        assert_eq!(split.test_input(3), [5, 4, 3, 2]);
    }
}
